// Per-thread opaque states for the stock (Linux >= 6.11) vDSO getrandom, carved
// from pages mapped with the protection and flags the vDSO asks for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace grndpool::kernel {

struct VdsoStateParams {
  uint32_t state_size;  // 0 when the vDSO did not answer the query
  uint32_t mmap_prot;
  uint32_t mmap_flags;
};

class VdsoStatePool {
 public:
  void Init(const VdsoStateParams &params) { params_ = params; }
  // A state no other thread holds, or nullptr when mapping fails.
  void *Acquire();
  // Wipes the state and makes it available again.
  void Release(void *state);

  // fork() must not copy the pool's lock while another thread holds it.
  void LockForFork() { mutex_.lock(); }
  void UnlockAfterFork() { mutex_.unlock(); }

 private:
  VdsoStateParams params_{};
  std::mutex mutex_;  // slow path only: a thread's first draw and its exit
  // Kept outside the states: droppable pages may be zeroed at any time (and are
  // zeroed in a child after fork), so links stored inside them could vanish.
  std::vector<void *> free_;
};

}  // namespace grndpool::kernel
