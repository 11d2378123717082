// SPDX-License-Identifier: Apache-2.0
// Process-wide counters, listed once in GRNDPOOL_COUNTERS: the public struct
// grndpool_stats, Counters, grndpool_stats() and the exit print all expand it.
// Updated on slow paths only; the fast path counts nothing.
#pragma once

#include <atomic>
#include <cstdint>

#include "grndpool/grndpool.h"

namespace grndpool {

struct Counters {
#define GRNDPOOL_COUNTER(name, help) std::atomic<uint64_t> name{0};
  GRNDPOOL_COUNTERS(GRNDPOOL_COUNTER)
#undef GRNDPOOL_COUNTER
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

// Copies the counters into `out`, honouring out->size (bytes the caller's struct
// has): fields past it are not written, so an older caller keeps working.
// `live_served_bytes`: bytes taken from live slices since their last refill,
// which the counters do not hold yet (the fast path counts nothing).
void SnapshotCounters(struct grndpool_stats *out, uint64_t live_served_bytes);

// One line, "grndpool stats: name=value ...", for GRNDPOOL_STATS=1 at exit.
void PrintCounters(int fd, uint64_t live_served_bytes);

}  // namespace grndpool
