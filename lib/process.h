// SPDX-License-Identifier: Apache-2.0
// What start-up decides once, for the life of the process: the options in
// force, every size of the slab, and the kernel path. Built by lib/runtime.cc,
// handed to each module at its own start-up (which keeps a pointer to this
// one holder, never a copy), and never changed afterwards.
#pragma once

#include "lib/kernel/kernel_ops.h"
#include "lib/options.h"
#include "lib/slice.h"

namespace grndpool {

struct Process {
  Options options;
  SlabGeometry geometry;
  const kernel::KernelOps *kernel = nullptr;
};

}  // namespace grndpool
