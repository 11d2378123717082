// SPDX-License-Identifier: Apache-2.0
// Refilling a slice: straight from the kernel path (`direct`, the seed's way) or
// from a ChaCha20 keystream (`chacha20`) keyed, at every refill, with 32 fresh
// bytes from the kernel path and erased as it is used. The keystream comes
// from libcrypto's EVP ChaCha20.
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

// Start-up: keeps the config; for chacha20, fetches the cipher and makes the
// contexts (the only place libcrypto allocates them: refills never do).
void InitRefill(const RefillConfig &config);

// Why the slice is being refilled.
struct RefillReason {
  bool generation_changed = false;  // bytes made under an old generation must not be served
  uint64_t new_cookie = 0;          // kPerDraw: the cookie the kernel just handed back
};

// Discards what is left in `slice`, then fills it with fresh bytes from a new
// kernel key (or straight from the kernel), in pieces of at most the rekey
// budget. Leaves avail = filled = capacity.
void RefillSlice(SliceHeader *slice, uint32_t capacity, const RefillReason &reason);

// Produces len bytes straight into `out` (from new kernel keys, or the kernel
// in direct mode), for draws larger than a slice.
void GenerateInto(SliceHeader *slice, void *out, size_t len);

// Tests only: `true` takes every context out of the pool, as refills in
// progress on other threads would; `false` puts them back.
void HoldAllCiphersForTesting(bool hold);

}  // namespace grndpool
