// SPDX-License-Identifier: Apache-2.0
// Picks the kernel path at start-up from what this kernel offers.
#pragma once

#include "lib/kernel/kernel_ops.h"

namespace grndpool::kernel {

// What the caller asks for (same order as GRNDPOOL_SOURCE's choices).
enum class SourceRequest : uint8_t { kAuto, kGrndTimestamp, kVdso, kSyscall };

struct SelectedSource {
  const KernelOps *ops;
  char description[128];    // e.g. "grnd_timestamp(vdso, checked every draw; fill vdso)"
  const char *unavailable;  // why the request could not be met (auto was used), or nullptr
};

// Probes the kernel once: the vDSO symbol, GRND_TIMESTAMP (vDSO first, then the
// syscall), and the layout of the stock vDSO state.
SelectedSource SelectSource(SourceRequest request);

}  // namespace grndpool::kernel
