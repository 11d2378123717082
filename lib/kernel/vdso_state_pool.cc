#include "vdso_state_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace grndpool::kernel {

void *VdsoStatePool::Acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_.empty()) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t size = params_.state_size;
    if (size == 0 || size > page) return nullptr;
    void *mem = mmap(nullptr, page, static_cast<int>(params_.mmap_prot),
                     static_cast<int>(params_.mmap_flags), -1, 0);
    if (mem == MAP_FAILED) return nullptr;
    // States never straddle a page: the kernel may zero a droppable page at any time.
    for (size_t off = 0; off + size <= page; off += size) free_.push_back(static_cast<char *>(mem) + off);
  }
  void *state = free_.back();
  free_.pop_back();
  return state;
}

void VdsoStatePool::Release(void *state) {
  if (state == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  explicit_bzero(state, params_.state_size);
  free_.push_back(state);
}

}  // namespace grndpool::kernel
