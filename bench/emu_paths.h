// SPDX-License-Identifier: Apache-2.0
// The userspace kernel model's GRND_TIMESTAMP vDSO branch (tests/emu/) as the
// benchmarks call it without grndpool: called directly, through a pointer as
// any vDSO entry is, and checked before every draw by the seed's 4 KiB pool
// (seed_pool.h). The baselines of grndpool's per-draw lane (issue 17) on a
// kernel without GRND_TIMESTAMP. Install the model in per-draw mode
// (InstallPerDrawEmu) before grndpool's first draw.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel_paths.h"
#include "seed_pool.h"

namespace grndpool_bench {

// grndpool::SetKernelOpsForTesting(emu::Ops(per-draw)), with the lane unless
// `lane` is false (the vDSO entry then stays unpublished and every draw takes
// the library's out-of-line path, as before issue 17), or in per-refill mode
// (a stock kernel: no check per draw) when `per_refill`; and makes the calling
// thread's seed pool for SeedPoolEmuU32().
void InstallPerDrawEmu(bool lane = true, bool per_refill = false);

using EmuVdsoFn = long (*)(void *, size_t, unsigned, void *, size_t);
// The emu's entry; volatile: loaded at every call, as a vDSO entry found at run time.
extern EmuVdsoFn volatile g_emu_vdso;
extern thread_local uint64_t t_emu_cookie [[gnu::tls_model("initial-exec")]];
extern SeedPool *g_seed_pool_emu;

// One call of the emu's vDSO branch, vgetrandom(&cookie, 8, GRND_TIMESTAMP,
// NULL, 0), through the pointer, with the cookie kept in thread-local storage
// as a buffer's stamp would be; returns the call's result (0: current).
// Inline: the loop calls the branch and nothing else.
inline uint32_t EmuVdsoBranchCall() {
  uint64_t cookie = t_emu_cookie;
  const long got = g_emu_vdso(&cookie, sizeof cookie, kGrndTimestamp, nullptr, 0);
  if (__builtin_expect(got != 0, 0)) t_emu_cookie = cookie;
  return static_cast<uint32_t>(got);
}

// The seed's pool (seed_pool.h) of the thread that called InstallPerDrawEmu:
// kernel bytes by the getrandom syscall, GRND_TIMESTAMP through the emu's vDSO
// branch before every draw (the pool's callback calls the entry, as
// seed_table's pooled vDSO row does). Inline, like the seed's U32().
inline uint32_t SeedPoolEmuU32() {
  return g_seed_pool_emu->U32();
}

}  // namespace grndpool_bench
