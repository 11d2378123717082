// SPDX-License-Identifier: Apache-2.0
// A userspace model of the GRND_TIMESTAMP contract, for tests on stock kernels.
//
// It stands behind the same seam as the real kernel (grndpool::kernel::KernelOps):
// a generation a test can bump, GRND_TIMESTAMP answered from it, and an optional
// tagged mode in which every byte it hands out is the low byte of the generation
// it was produced under, so a test can prove where each served byte came from.
#pragma once

#include <cstdint>

#include "lib/kernel/kernel_ops.h"

namespace grndpool::emu {

struct EmuConfig {
  bool tagged = false;  // bytes are Tag(generation) instead of real kernel bytes
  kernel::GenerationMode mode = kernel::GenerationMode::kPerDraw;
};

// The ops to install with grndpool::SetKernelOpsForTesting() before the first draw.
const kernel::KernelOps *Ops(const EmuConfig &config);

// Moves the modelled CRNG to its next generation (what crng_reseed() does).
void BumpGeneration();
uint64_t Generation();

// The byte value tagged mode produces under `generation`; never zero, so a wiped
// (zeroed) byte can never pass for a served one.
inline uint8_t Tag(uint64_t generation) {
  return static_cast<uint8_t>(generation % 255 + 1);
}

}  // namespace grndpool::emu
