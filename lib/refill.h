// SPDX-License-Identifier: Apache-2.0
// Refilling a slice: straight from the kernel path (`direct`, the seed's way) or
// from a ChaCha20 keystream (`chacha20`, lib/keystream.h) keyed, at every
// refill and every piece of a large draw, with 32 fresh bytes from the kernel
// path, which are wiped once used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/kernel/kernel_ops.h"
#include "lib/options.h"
#include "lib/slice.h"

namespace grndpool {

struct RefillConfig {
  RefillMode mode;
  uint64_t rekey_bytes;
  const kernel::KernelOps *ops;
  size_t contexts;  // chacha20: cipher contexts made now (at most 256), one per refill at a time
};

// Start-up: keeps the config; for chacha20, sets up libcrypto and makes the
// contexts (InitKeystream: the only place libcrypto allocates; refills never
// do). Without libcrypto's ChaCha20 every refill takes kernel bytes.
void InitRefill(const RefillConfig &config);

// Why the slice is being refilled.
struct RefillReason {
  bool generation_changed = false;  // bytes made under an old generation must not be served
  uint64_t new_cookie = 0;          // kPerDraw: the cookie the kernel just handed back
};

// Discards what is left in `slice`, then fills it with fresh bytes from a new
// kernel key (or straight from the kernel), in pieces of at most the rekey
// budget. Leaves avail = filled = capacity. Uses the slice's key slot.
void RefillSlice(SliceHeader *slice, uint32_t capacity, const RefillReason &reason);

// Produces len bytes straight into `out` (from new kernel keys, or the kernel
// in direct mode), for draws larger than a slice. Uses the slice's key slot.
void GenerateInto(SliceHeader *slice, void *out, size_t len);

}  // namespace grndpool
