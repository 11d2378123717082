// Picks the kernel path at start-up from what this kernel offers.
#pragma once

#include <string>

#include "../options.h"
#include "kernel_ops.h"

namespace grndpool::kernel {

struct SelectedSource {
  const KernelOps *ops;
  std::string description;  // e.g. "grnd_timestamp(vdso)", "vdso(generation from state)"
  std::string note;         // non-empty when the requested source was not available
};

// Probes the kernel once: the vDSO symbol, GRND_TIMESTAMP (vDSO first, then the
// syscall), and the layout of the stock vDSO state.
SelectedSource SelectSource(SourceChoice choice);

// Fork handling for locks held by the kernel layer.
void KernelLockForFork();
void KernelUnlockAfterFork();

}  // namespace grndpool::kernel
