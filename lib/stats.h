// Process-wide counters. Updated on slow paths only; the fast path counts nothing.
#pragma once

#include <atomic>
#include <cstdint>

namespace grndpool {

struct Counters {
  std::atomic<uint64_t> bytes_served{0};  // from retired fills and direct draws
  std::atomic<uint64_t> bytes_discarded{0};
  std::atomic<uint64_t> refills{0};
  std::atomic<uint64_t> rekeys{0};
  std::atomic<uint64_t> generation_changes{0};
  std::atomic<uint64_t> fork_resets{0};
  std::atomic<uint64_t> mlock_failures{0};
  std::atomic<uint64_t> locked_bytes{0};
  std::atomic<uint64_t> slab_bytes{0};
  std::atomic<uint64_t> slices_in_use{0};
  std::atomic<uint64_t> shared_draws{0};
  std::atomic<uint64_t> kernel_draws{0};
  std::atomic<uint64_t> threads_seen{0};
};

extern Counters g_counters;

inline void Count(std::atomic<uint64_t> &counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

// Records the outcome of locking `bytes` of buffer memory.
inline void CountLock(bool locked, uint64_t bytes) {
  if (locked)
    Count(g_counters.locked_bytes, bytes);
  else
    Count(g_counters.mlock_failures);
}

// Records that the kernel generation moved to `generation` (cookie or counter);
// counts each distinct change once however many threads notice it.
void NoteGeneration(uint64_t generation);

}  // namespace grndpool
