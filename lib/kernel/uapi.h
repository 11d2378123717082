// SPDX-License-Identifier: Apache-2.0
// Kernel ABI facts, defined once: the seed's GRND_TIMESTAMP flag, the uapi of
// the Linux >= 6.11 vDSO getrandom, its private state layout as of 6.11-6.18,
// and MAP_DROPPABLE. The library's kernel layer and the benchmark use these.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grndpool::kernel {

// The seed's flag: the buffer holds a u64 cookie, an opaque ~generation (with
// kernel/patches/, the complement of the generation the vDSO publishes). It
// changes on every reseed, VM fork included, and may change spuriously.
inline constexpr unsigned kGrndTimestamp = 0x0008;

// struct vgetrandom_opaque_params of the uapi (Linux >= 6.11), filled by
// __vdso_getrandom(NULL, 0, 0, &params, ~0UL).
struct VgetrandomOpaqueParams {
  uint32_t size_of_opaque_state;
  uint32_t mmap_prot;
  uint32_t mmap_flags;
  uint32_t reserved[13];
};

// The 5-argument entry of Linux >= 6.11 (a 3-argument entry ignores the rest).
using VdsoGetrandomFn = long (*)(void *buf, size_t len, unsigned flags, void *state,
                                 size_t state_len);

// struct vgetrandom_state in Linux 6.11 to 6.18: 128 bytes of batch and key,
// then the u64 generation the state was last keyed under. Private to the kernel:
// used only when the vDSO reports exactly this size and the generation is
// where it should be (source.cc checks it at start-up).
inline constexpr uint32_t kKnownStateSize = 144;
inline constexpr size_t kStateGenerationOffset = 128;

// MAP_DROPPABLE (Linux >= 6.11): a mapping type like MAP_PRIVATE.
inline constexpr int kMapDroppable = 0x08;

}  // namespace grndpool::kernel
