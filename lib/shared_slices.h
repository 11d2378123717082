// SPDX-License-Identifier: Apache-2.0
// Lock-free draws from the shared overflow slices, used by threads that found
// no free slice once the slab budget was spent, where the per-CPU reservoir
// is off or did not serve (lib/refill.h, ReservoirDraw). They live in the budget's last
// segment, set aside by the slice directory and mapped here on first use. No
// thread ever waits: a thread that finds its shared slice exhausted and still
// being consumed or refilled draws straight from the kernel path instead.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/process.h"

namespace grndpool {

// Start-up only: keeps `process` (the slice size, the kernel path), registers
// the fork hooks.
void InitSharedSlices(const Process &process);

// Serves n (<= kMaxSharedDraw) bytes for the thread tagged `tag`. Returns true
// when they came from a shared slice (the caller counts those), false when they
// came from the kernel (counted here).
bool SharedDraw(void *out, size_t n, uint32_t tag);

inline constexpr size_t kMaxSharedDraw = 64;

}  // namespace grndpool
