// SPDX-License-Identifier: Apache-2.0
// The sharing strategies other than slab (which is the fast path); their table
// is registry.h. Files in lib/strategies/ include lib/ headers below runtime
// (modules and leaves) and, for the table's slab row, lib/fast_path.h;
// nothing else.
#pragma once

#include <cstddef>

#include "lib/process.h"

namespace grndpool {

// Each fills out with n random bytes and never fails. Called after start-up,
// with the thread's in-draw flag set (a signal handler that draws meanwhile is
// served by the kernel), by the slow path or by the table's direct entries.
void SyscallStrategyDraw(void *out, size_t n);       // getrandom(2) per draw
void VdsoStrategyDraw(void *out, size_t n);          // the kernel path per draw (vDSO when present)
void PerThreadStrategyDraw(void *out, size_t n);     // the seed: 4 KiB locked buffer per thread
void SharedBufferStrategyDraw(void *out, size_t n);  // one lock-free buffer, RCU-swapped
void MutexStrategyDraw(void *out, size_t n);         // one buffer behind a mutex
void PerCpuStrategyDraw(void *out, size_t n);        // per-CPU buffers under rseq (x86_64)

// Start-up only: each keeps `process` (its kernel path) and registers the fork
// hooks of the locks it holds across calls.
void InitUnbuffered(const Process &process);
void InitPerThreadStrategy(const Process &process);
void InitSharedBufferStrategy(const Process &process);
void InitMutexStrategy(const Process &process);
void InitPerCpuStrategy(const Process &process);

}  // namespace grndpool
