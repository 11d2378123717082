// Process-wide start-up, fork handling and introspection.
#pragma once

#include <cstdint>
#include <string>

#include "kernel/kernel_ops.h"
#include "options.h"

namespace grndpool {

// Reads the environment, probes the kernel and sets up the slab, once.
void EnsureInitialized();

// In a child after fork (the wipe-on-fork canary page reads zero): locks the slab
// again, forgets the parent's slices and counts a fork reset. Cheap otherwise.
void CheckForkInChild();

// A fresh nonzero tag for the calling thread; registers its exit destructor.
uint32_t RegisterThread();

// Releases the calling thread's slice, cipher and kernel state (thread exit).
void ReleaseThread();

// Bytes a slice serves between refills (slice size minus its header).
uint32_t SliceCapacity();

const Options &CurrentOptions();
std::string Describe();

// Tests only: use `ops` instead of probing the kernel. Must precede the first draw.
void SetKernelOpsForTesting(const kernel::KernelOps *ops);

}  // namespace grndpool
