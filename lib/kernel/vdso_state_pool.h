// SPDX-License-Identifier: Apache-2.0
// Per-thread opaque states for the stock (Linux >= 6.11) vDSO getrandom, carved
// from pages mapped with the protection and flags the vDSO asks for. Lock-free:
// no lock is held across a fork, and a signal handler can never wait on one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

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
  // malloc.
  void *Acquire();
  // Wipes the state and makes it available again.
  void Release(void *state);

 private:
  VdsoStateParams params_{};
  // Bookkeeping is kept outside the states: droppable pages may be zeroed at any
  // time (and are zeroed in a child after fork), so nothing stored in them lasts.
  struct Chunk {
    Chunk *next;
    char *page;                  // the droppable page the states are cut from
    std::atomic<uint64_t> used;  // bit i: state i is held (bits past the page's states set)
  };
  std::atomic<Chunk *> chunks_{nullptr};  // never freed
  // The first chunk's bookkeeping is here (a process with a few threads maps
  // no page for it); later ones are mapped with mmap.
  Chunk first_{};
  std::atomic<bool> first_taken_{false};
};

}  // namespace grndpool::kernel
