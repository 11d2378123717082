// SPDX-License-Identifier: Apache-2.0
// Strategies that buffer nothing: every draw goes to the kernel. They count
// nothing either: a shared counter per draw would be most of their cost.
#include "lib/kernel/syscall.h"
#include "lib/strategies/strategies.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;

}  // namespace

void InitUnbuffered(const Process &process) {
  g_process = &process;
}

void SyscallStrategyDraw(void *out, size_t n) {
  kernel::SyscallFill(out, n);
}

// The source's byte path: the vDSO getrandom with a per-thread state where the
// kernel has one (what glibc 2.41 does), the syscall otherwise.
void VdsoStrategyDraw(void *out, size_t n) {
  g_process->kernel->fill(out, n);
}

}  // namespace grndpool
