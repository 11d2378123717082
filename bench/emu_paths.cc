// SPDX-License-Identifier: Apache-2.0
#include "emu_paths.h"

#include "lib/runtime.h"
#include "tests/emu/emu.h"

namespace grndpool_bench {

EmuVdsoFn volatile g_emu_vdso = grndpool::emu::VdsoGetrandom;
thread_local uint64_t t_emu_cookie [[gnu::tls_model("initial-exec")]] = 0;
SeedPool *g_seed_pool_emu = nullptr;

namespace {

void SyscallFillThunk(void *, void *out, size_t n) {
  SyscallFill(out, n);
}
long EmuTimestampThunk(void *, uint64_t *cookie) {
  return g_emu_vdso(cookie, sizeof *cookie, kGrndTimestamp, nullptr, 0);
}

}  // namespace

void InstallPerDrawEmu(bool lane, bool per_refill) {
  grndpool::emu::EmuConfig config;
  config.mode = per_refill ? grndpool::kernel::GenerationMode::kPerRefill
                           : grndpool::kernel::GenerationMode::kPerDraw;
  config.vdso_entry = lane;
  grndpool::SetKernelOpsForTesting(grndpool::emu::Ops(config));
  g_seed_pool_emu = new SeedPool(SyscallFillThunk, EmuTimestampThunk, nullptr);
}

}  // namespace grndpool_bench
