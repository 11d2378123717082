// Per-thread opaque states for the stock (Linux >= 6.11) vDSO getrandom, carved
// from pages mapped with the protection and flags the vDSO asks for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace grndpool::kernel {

struct VdsoStateParams {
  uint32_t state_size;  // 0 when the vDSO did not answer the query
  uint32_t mmap_prot;
  uint32_t mmap_flags;
};

class VdsoStatePool {
 public:
  void Init(const VdsoStateParams &params) { params_ = params; }
  // A state no other thread holds, or nullptr when mapping fails. Never calls
  // malloc, so a thread's first draw may come from a signal handler.
  void *Acquire();
  // Wipes the state and makes it available again.
  void Release(void *state);

  // fork() must not copy the pool's lock while another thread holds it.
  void LockForFork() { mutex_.lock(); }
  void UnlockAfterFork() { mutex_.unlock(); }

 private:
  VdsoStateParams params_{};
  std::mutex mutex_;  // slow path only: a thread's first draw and its exit
  // Bookkeeping is kept outside the states: droppable pages may be zeroed at any
  // time (and are zeroed in a child after fork), so nothing stored in them lasts.
  struct Chunk {
    Chunk *next;
    char *page;     // the droppable page the states are cut from
    uint64_t used;  // bit i: state i is held by a thread
  };
  Chunk *chunks_ = nullptr;  // each mapped with mmap, never freed
};

}  // namespace grndpool::kernel
