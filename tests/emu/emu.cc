// SPDX-License-Identifier: Apache-2.0
#include "tests/emu/emu.h"

#include "lib/kernel/syscall.h"

#include <atomic>
#include <cstring>

namespace grndpool::emu {
namespace {

// Starts at 1 like a booted kernel that has reseeded once.
std::atomic<uint64_t> g_generation{1};
bool g_tagged = false;
kernel::KernelOps g_emu_ops;

kernel::FillPath Fill(void *buf, size_t len) {
  if (!g_tagged) {
    kernel::SyscallFill(buf, len);
    return kernel::FillPath::kModel;
  }
  // Read once: every byte of one fill is produced under one generation.
  memset(buf, Tag(g_generation.load(std::memory_order_acquire)), len);
  return kernel::FillPath::kModel;
}

long Timestamp(uint64_t *cookie) {
  return VdsoGetrandom(cookie, sizeof *cookie, kernel::kGrndTimestamp, nullptr, 0);
}

bool ReadGeneration(uint64_t *generation) {
  *generation = g_generation.load(std::memory_order_acquire);
  return true;
}

long NoTimestamp(uint64_t *) {
  return -22; /* EINVAL */
}
bool UnknownGeneration(uint64_t *) {
  return false;
}
void NoThreadState() {}

}  // namespace

long VdsoGetrandom(void *buf, size_t len, unsigned flags, void *, size_t) {
  uint64_t cookie;
  if (flags != kernel::kGrndTimestamp || len != sizeof cookie) return -22; /* EINVAL */
  // The complement, so that a zeroed cookie is never current. Acquire: the
  // kernel's READ_ONCE() then smp_rmb(), pairing with crng_reseed()'s release.
  cookie = ~g_generation.load(std::memory_order_acquire);
  uint64_t held;
  memcpy(&held, buf, sizeof held);  // __get_unaligned_t
  if (__builtin_expect(cookie != 0 && held == cookie, 1)) return 0;
  memcpy(buf, &cookie, sizeof cookie);
  return sizeof cookie;
}

const kernel::KernelOps *Ops(const EmuConfig &config) {
  g_tagged = config.tagged;
  g_emu_ops.name = config.tagged ? "emu(tagged)" : "emu";
  g_emu_ops.mode = config.mode;
  g_emu_ops.fill = Fill;
  const bool per_draw = config.mode == kernel::GenerationMode::kPerDraw;
  const bool known = config.mode != kernel::GenerationMode::kUnknown;
  g_emu_ops.timestamp = per_draw ? Timestamp : NoTimestamp;
  g_emu_ops.vgetrandom = per_draw && config.vdso_entry ? VdsoGetrandom : nullptr;
  g_emu_ops.generation = known && !per_draw ? ReadGeneration : UnknownGeneration;
  g_emu_ops.thread_exit = NoThreadState;
  return &g_emu_ops;
}

void BumpGeneration() {
  // crng_reseed() skips ULONG_MAX so that a zero cookie (~ULONG_MAX) is never current.
  uint64_t next = g_generation.load(std::memory_order_relaxed) + 1;
  if (next == UINT64_MAX) ++next;
  g_generation.store(next, std::memory_order_release);
}

uint64_t Generation() {
  return g_generation.load(std::memory_order_acquire);
}

}  // namespace grndpool::emu
