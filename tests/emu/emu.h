// SPDX-License-Identifier: Apache-2.0
// A userspace model of the GRND_TIMESTAMP contract, for tests on stock kernels.
//
// It stands behind the same seam as the real kernel (grndpool::kernel::KernelOps):
// a generation a test can bump, GRND_TIMESTAMP answered from it, and an optional
// tagged mode in which every byte it hands out is the low byte of the generation
// it was produced under, so a test can prove where each served byte came from.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/kernel/kernel_ops.h"

namespace grndpool::emu {

struct EmuConfig {
  bool tagged = false;  // bytes are Tag(generation) instead of real kernel bytes
  kernel::GenerationMode mode = kernel::GenerationMode::kPerDraw;
  // Per-draw mode: VdsoGetrandom below is the ops' vDSO entry (vgetrandom),
  // as on a patched kernel. False: no entry, every check goes through
  // timestamp() (the library's draws then all take its slow path).
  bool vdso_entry = true;
};

// The ops to install with grndpool::SetKernelOpsForTesting() before the first draw.
const kernel::KernelOps *Ops(const EmuConfig &config);

// A copy of the patched kernel's vDSO branch for GRND_TIMESTAMP
// (kernel/patches/0002, __cvdso_getrandom_timestamp) behind the vDSO entry's
// signature (kernel::VdsoGetrandomFn), answering from the modelled generation:
// 0 when *(uint64_t *)buf is the current cookie, 8 after storing it there.
// Every other call answers -EINVAL (the kernel passes those to the syscall,
// which refuses GRND_TIMESTAMP with other flags or lengths; plain getrandom
// is not modelled here). Async-signal-safe; what the emu's timestamp() calls.
long VdsoGetrandom(void *buf, size_t len, unsigned flags, void *state, size_t state_len);

// Moves the modelled CRNG to its next generation (what crng_reseed() does).
void BumpGeneration();
uint64_t Generation();

// The byte value tagged mode produces under `generation`; never zero, so a wiped
// (zeroed) byte can never pass for a served one.
inline uint8_t Tag(uint64_t generation) {
  return static_cast<uint8_t>(generation % 255 + 1);
}

}  // namespace grndpool::emu
