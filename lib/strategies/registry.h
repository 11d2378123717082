// SPDX-License-Identifier: Apache-2.0
// Sharing strategies: how draws share buffered bytes between threads. The
// process draws through the one GRNDPOOL_STRATEGY selects; the benchmark calls
// each of them directly, side by side in one process.
#pragma once

#include <cstddef>

#include "lib/options.h"
#include "lib/process.h"

namespace grndpool {

struct StrategyOps {
  const char *name;
  // Fills out with n random bytes. Never fails. Thread-safe.
  void (*draw)(void *out, size_t n);
};

// Every strategy, usable in any process; the first draw initialises the library.
const StrategyOps &StrategyFor(Strategy strategy);
// Draws through `strategy` (not slab) for the slow path: start-up has run and
// the thread's in-draw flag is set.
void StrategyDraw(Strategy strategy, void *out, size_t n);

// Bytes the per-cpu strategy maps and locks once it draws (0 where it cannot:
// it then draws through the per-thread strategy). A budget of its own, of the
// size of the slab's (GRNDPOOL_SLAB_BYTES), or two 16 KiB buffers per CPU and
// two more if that is larger.
size_t PerCpuPoolBytes();

// The slab budget's share that the per-CPU pool takes in this process as the
// reservoir small slices refill from (lib/refill.h), for the slab's
// geometry; 0: none (not the slab strategy, direct refills, the generation
// asked per draw, no rseq, another architecture than x86_64). At start-up,
// before the geometry.
size_t ReservoirBytes(const Process &process);
// Whether the per-CPU pool is that reservoir here (then PerCpuPoolBytes()
// is its size), not a strategy's.
bool PerCpuPoolIsReservoir();
// For describe: "off" (no reservoir here), "not-yet" (not mapped yet: no
// small refill used it), "in-use", or "unused:not-locked" (its share of the
// budget stays unused: the pool could not be mapped and locked).
const char *ReservoirStatus();

// Tests: runs the per-cpu word section as if this thread ran on `cpu`: 0
// served, 1 aborted (the thread is not on `cpu`), 2 nothing to serve there,
// -1 no pool or no such CPU. What it served is wiped.
int PerCpuSectionOnCpuForTesting(int64_t cpu);
// Tests: copies the n bytes `cpu`'s active buffer serves next (the
// reservoir's next refill on that CPU), without taking them; false: no pool,
// no active buffer, or fewer bytes left. Racy if another thread serves there.
bool PerCpuPeekForTesting(int64_t cpu, uint8_t *out, size_t n);
// Tests: serving sections and buffer swaps the kernel cut so far.
void PerCpuAbortsForTesting(uint64_t *serve, uint64_t *swap);

// Start-up only: hands `process` to every strategy (they register their fork
// hooks).
void InitStrategies(const Process &process);

inline constexpr Strategy kAllStrategies[] = {
    Strategy::kSyscall, Strategy::kVdso,  Strategy::kPerThread, Strategy::kSlab,
    Strategy::kShared,  Strategy::kMutex, Strategy::kPerCpu};

}  // namespace grndpool
