// SPDX-License-Identifier: Apache-2.0
// Process-wide settings: the one Process (options, slab geometry, kernel
// path), the thread-exit key, thread tags, and the stats printed at exit.
#pragma once

#include <cstdint>

#include "lib/kernel/kernel_ops.h"
#include "lib/process.h"

namespace grndpool {

// Start-up, once: reads the environment (secure_getenv) into the options,
// picks the kernel path, creates the thread-exit key whose destructor is
// `thread_exit`, and returns the process's one Process, for the caller to add
// the slab's geometry to before handing it to the modules. Nothing changes it
// afterwards. `started_up` tells whether start-up has ended, every module set
// up (with acquire order: the exit-time print may run on another thread).
Process &InitRuntime(void (*thread_exit)(void *), bool (*started_up)());

// The process's settings, decided at start-up (defaults before it).
const Process &CurrentProcess();
inline const Options &CurrentOptions() {
  return CurrentProcess().options;
}

// Arranges for the thread-exit destructor to run for this thread with `state`.
// False when no pthread key could be had (all in use): the thread's draws then
// go to the kernel, which needs nothing released.
bool RegisterThreadExit(void *state);

// False when the thread-exit key could not be created: draws are kernel-only.
bool HaveThreadKey();

// Bytes served from owned slices (small and hot) since their last refill,
// which the counters do not hold yet; for stats. 0 before start-up ended.
uint64_t ServedFromLiveSlices();

// A fresh nonzero tag for a thread, and counts it.
uint32_t NewThreadTag();

// The kernel path chosen at start-up, in words:
// "grnd_timestamp(vdso, checked every draw; fill vdso)". Start-up must have run.
const char *SourceDescription();

// True when a test installed its own kernel (SetKernelOpsForTesting).
bool SourceIsTestDouble();

// Tests only: use `ops` instead of probing the kernel. Must precede the first draw.
void SetKernelOpsForTesting(const kernel::KernelOps *ops);

}  // namespace grndpool
