// SPDX-License-Identifier: Apache-2.0
// Process-wide counters, listed once in GRNDPOOL_COUNTERS: the public struct
// grndpool_stats, Counters, grndpool_stats(), the exit print and the page
// other processes read (lib/stats_page.h) all expand it. Updated on slow paths
// only; the fast path counts nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "grndpool/grndpool.h"
#include "lib/kernel/kernel_ops.h"

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

// Records which kernel call served a buffer fill or a key (KernelOps::fill's
// answer). /dev/urandom is counted by the kernel layer itself
// (urandom_fallbacks); the test double's fills are not counted.
inline void CountFill(kernel::FillPath path) {
  if (path == kernel::FillPath::kVdso)
    Count(g_counters.vdso_fills);
  else if (path == kernel::FillPath::kSyscall)
    Count(g_counters.syscall_fills);
}

// Where a counter's value lives: `word`, plus `extra` when the kernel layer
// (which cannot include this file) keeps part of it. In GRNDPOOL_COUNTERS order.
struct CounterWord {
  const char *name;
  std::atomic<uint64_t> *word;
  std::atomic<uint64_t> *extra;  // nullptr: none
};
extern const CounterWord kCounterWords[];
extern const size_t kCounterCount;

// A slice refill's counts: refills, reservoir_refills (`from_reservoir`),
// bytes_served (`served`: what the fill before it served) and bytes_discarded
// (`discarded`: what it left). `deferred` (for threads whose exit runs
// FlushTally: a small slice's owner): kept in the calling thread's tally and
// added to the process counters every kRefillTally refills, at thread exit
// and before this thread reads them. Four shared counters written from both
// cores at every small refill were a tenth of the draws' time (2 to 64
// threads on 256-byte slices). Other threads' counts may lag by up to
// kRefillTally refills each. Async-signal-safe (a handler that reads the
// counters mid-count flushes nothing).
inline constexpr uint32_t kRefillTally = 8;
void CountRefill(uint64_t served, uint64_t discarded, bool from_reservoir, bool deferred);
// An overflow draw's counts: reservoir_draws (`from_reservoir`) or
// shared_draws (a shared overflow slice served it), and bytes_served
// (`bytes`). Kept in the calling thread's tally with its refills, added to
// the process counters every kOverflowTally such draws (or kRefillTally
// refills), at thread exit and before this thread reads them: a shared
// counter per draw would be most of an overflow draw's cost. Called by a
// thread past the slab budget, whose exit runs FlushTally. Async-signal-safe
// as CountRefill.
inline constexpr uint32_t kOverflowTally = 256;
void CountOverflowDraw(uint64_t bytes, bool from_reservoir);
// Takes back a CountOverflowDraw(bytes, true) of this thread's whose draw was
// then not served (counted ahead of a lean draw, lib/fast_path.h): from its
// tally if the tally holds it, else from the counters it was added to.
void UncountOverflowDraw(uint64_t bytes);
// Adds this thread's tally to the process counters.
void FlushTally();

// Copies the counters into `out`, honouring out->size (bytes the caller's struct
// has): fields past it are not written, so an older caller keeps working.
// `live_served_bytes`: bytes taken from live slices since their last refill,
// which the counters do not hold yet (the fast path counts nothing).
void SnapshotCounters(struct grndpool_stats *out, uint64_t live_served_bytes);

// Appends " name=value" to the line of `cap` bytes of which `used` are taken;
// returns the new length, at most cap - 1 (the rest is cut).
size_t AppendCounter(char *line, size_t cap, size_t used, const char *name, uint64_t value);

// One line, "grndpool stats: pid=N name=value ...", for GRNDPOOL_STATS=1 at exit.
void PrintCounters(int fd, uint64_t live_served_bytes);

// In a child after fork, before the modules' fork hooks recount the gauges:
// every counter but the mappings still held (slab_bytes, droppable_bytes)
// starts again from zero, and so does the (forking) thread's tally, so a
// child counts its own work only. Called only by lib/fork.cc.
void ResetCountersInChild();

}  // namespace grndpool
