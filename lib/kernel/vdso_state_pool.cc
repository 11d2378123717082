// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel/vdso_state_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace grndpool::kernel {
namespace {

size_t PageSize() {
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

void *VdsoStatePool::Acquire() {
  const size_t page = PageSize();
  const size_t size = params_.state_size;
  if (size == 0 || size > page) return nullptr;
  for (Chunk *c = chunks_.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    uint64_t used = c->used.load(std::memory_order_relaxed);
    while (~used != 0) {
      const int bit = __builtin_ctzll(~used);
      if (c->used.compare_exchange_weak(used, used | (1ull << bit), std::memory_order_acquire))
        return c->page + static_cast<size_t>(bit) * size;
    }
  }
  // States never straddle a page: the kernel may zero a droppable page at any time.
  const size_t per_page = page / size < 64 ? page / size : 64;
  void *states = mmap(nullptr, page, static_cast<int>(params_.mmap_prot),
                      static_cast<int>(params_.mmap_flags), -1, 0);
  if (states == MAP_FAILED) return nullptr;
  void *meta = &first_;
  if (first_taken_.exchange(true, std::memory_order_relaxed)) {
    meta = mmap(nullptr, sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (meta == MAP_FAILED) {
      munmap(states, page);
      return nullptr;
    }
  }
  auto *chunk = static_cast<Chunk *>(meta);
  chunk->page = static_cast<char *>(states);
  const uint64_t absent = per_page == 64 ? 0 : ~((1ull << per_page) - 1);
  chunk->used.store(absent | 1, std::memory_order_relaxed);
  Chunk *head = chunks_.load(std::memory_order_relaxed);
  do chunk->next = head;
  while (!chunks_.compare_exchange_weak(head, chunk, std::memory_order_release,
                                        std::memory_order_relaxed));
  return chunk->page;
}

void VdsoStatePool::Release(void *state) {
  if (state == nullptr) return;
  explicit_bzero(state, params_.state_size);
  const size_t page = PageSize();
  char *page_start = reinterpret_cast<char *>(reinterpret_cast<uintptr_t>(state) & ~(page - 1));
  for (Chunk *c = chunks_.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    if (c->page == page_start) {
      const size_t bit =
          static_cast<size_t>(static_cast<char *>(state) - page_start) / params_.state_size;
      c->used.fetch_and(~(1ull << bit), std::memory_order_release);
      return;
    }
  }
}

}  // namespace grndpool::kernel
