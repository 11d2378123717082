#include "vdso_state_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace grndpool::kernel {

void *VdsoStatePool::Acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = params_.state_size;
  if (size == 0 || size > page) return nullptr;
  // States never straddle a page: the kernel may zero a droppable page at any time.
  const size_t per_page = page / size < 64 ? page / size : 64;
  for (Chunk *c = chunks_; c != nullptr; c = c->next) {
    for (size_t i = 0; i < per_page; ++i) {
      if ((c->used & (1ull << i)) == 0) {
        c->used |= 1ull << i;
        return c->page + i * size;
      }
    }
  }
  void *states = mmap(nullptr, page, static_cast<int>(params_.mmap_prot),
                      static_cast<int>(params_.mmap_flags), -1, 0);
  if (states == MAP_FAILED) return nullptr;
  void *meta =
      mmap(nullptr, sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (meta == MAP_FAILED) {
    munmap(states, page);
    return nullptr;
  }
  auto *chunk = static_cast<Chunk *>(meta);
  chunk->next = chunks_;
  chunk->page = static_cast<char *>(states);
  chunk->used = 1;
  chunks_ = chunk;
  return chunk->page;
}

void VdsoStatePool::Release(void *state) {
  if (state == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  explicit_bzero(state, params_.state_size);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  char *page_start = reinterpret_cast<char *>(reinterpret_cast<uintptr_t>(state) & ~(page - 1));
  for (Chunk *c = chunks_; c != nullptr; c = c->next) {
    if (c->page == page_start) {
      c->used &= ~(1ull << ((static_cast<char *>(state) - page_start) / params_.state_size));
      return;
    }
  }
}

}  // namespace grndpool::kernel
