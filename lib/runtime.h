// SPDX-License-Identifier: Apache-2.0
// Process-wide settings and introspection: the options, the kernel path in
// force, the thread-exit key, thread tags, and grndpool_describe()'s line.
#pragma once

#include <cstdint>
#include <string>

#include "lib/kernel/kernel_ops.h"
#include "lib/options.h"

namespace grndpool {

// The kernel path in force; set once by InitRuntime, before any buffer fills.
extern const kernel::KernelOps *g_ops;

// Start-up, once: reads the environment (secure_getenv), picks the kernel path
// and creates the thread-exit key whose destructor is `thread_exit`.
void InitRuntime(void (*thread_exit)(void *));

// Arranges for the thread-exit destructor to run for this thread with `state`.
// False when no pthread key could be had (all in use): the thread's draws then
// go to the kernel, which needs nothing released.
bool RegisterThreadExit(void *state);

// False when the thread-exit key could not be created: draws are kernel-only.
bool HaveThreadKey();

// Bytes served from owned slices (small and hot) since their last refill,
// which the counters do not hold yet; for stats.
uint64_t ServedFromLiveSlices();

// A fresh nonzero tag for a thread, and counts it.
uint32_t NewThreadTag();

const Options &CurrentOptions();

// grndpool_describe()'s line. Start-up must have run.
std::string Describe();

// Tests only: use `ops` instead of probing the kernel. Must precede the first draw.
void SetKernelOpsForTesting(const kernel::KernelOps *ops);

}  // namespace grndpool
