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

// Tests: runs the per-cpu word section as if this thread ran on `cpu`: 0
// served, 1 aborted (the thread is not on `cpu`), 2 nothing to serve there,
// -1 no pool or no such CPU. What it served is wiped.
int PerCpuSectionOnCpuForTesting(int64_t cpu);
// Tests: serving sections and buffer swaps the kernel cut so far.
void PerCpuAbortsForTesting(uint64_t *serve, uint64_t *swap);

// Start-up only: hands `process` to every strategy (they register their fork
// hooks).
void InitStrategies(const Process &process);

inline constexpr Strategy kAllStrategies[] = {
    Strategy::kSyscall, Strategy::kVdso,  Strategy::kPerThread, Strategy::kSlab,
    Strategy::kShared,  Strategy::kMutex, Strategy::kPerCpu};

}  // namespace grndpool
