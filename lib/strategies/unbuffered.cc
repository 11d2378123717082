// SPDX-License-Identifier: Apache-2.0
// Strategies that buffer nothing: every draw goes to the kernel. They count
// nothing either: a shared counter per draw would be most of their cost.
#include "lib/kernel/syscall.h"
#include "lib/runtime.h"
#include "lib/strategies/strategies.h"

namespace grndpool {

void SyscallStrategyDraw(void *out, size_t n) {
  kernel::SyscallFill(out, n);
}

// The source's byte path: the vDSO getrandom with a per-thread state where the
// kernel has one (what glibc 2.41 does), the syscall otherwise.
void VdsoStrategyDraw(void *out, size_t n) {
  g_ops->fill(out, n);
}

bool ServedDirectly(bool in_draw, void *out, size_t n, size_t max_bytes) {
  if (!in_draw && n <= max_bytes) return false;
  g_ops->fill(out, n);
  return true;
}

}  // namespace grndpool
