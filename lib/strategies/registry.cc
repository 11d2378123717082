// SPDX-License-Identifier: Apache-2.0
// The strategy table: each row's entry for direct calls (the benchmark and
// tests draw through every strategy side by side in one process) and for the
// slow path.
#include "lib/strategies/registry.h"

#include "lib/fast_path.h"
#include "lib/fork.h"
#include "lib/kernel/syscall.h"
#include "lib/scrub.h"
#include "lib/strategies/strategies.h"

namespace grndpool {

namespace {

// The slab row ignores GRNDPOOL_STRATEGY, so the benchmark can compare it with
// the others in one process.
void SlabStrategyDraw(void *out, size_t n) {
  Draw<true>(out, n);
}

// A direct call of a strategy, like Draw<> of the slab: the first draw
// initialises the library (the kernel serves while another thread does); the
// in-draw flag sends a signal handler that interrupts it to the kernel; and,
// as after the slab's slow path, no copy of what was served stays in the
// vector registers.
template <void (*kDraw)(void *, size_t)>
void DirectDraw(void *out, size_t n) {
  FastThreadBlock &t = FastBlock();
  if (__builtin_expect(t.grndpool_in_draw, 0)) return NestedDraw(out, n);
  if (__builtin_expect(!EnsureInitialized(), 0)) {
    kernel::SyscallFill(out, n);
    return;
  }
  t.grndpool_in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // A child resets here first, as on the slab's slow path (also inside the
  // in-draw flag): the strategies' locks (and liburcu's) may have been
  // copied held by threads that do not exist in it. While another thread
  // resets it, or this one is inside its own fork(), the kernel serves.
  if (fork::CheckInChild() == fork::ChildState::kBusy)
    kernel::SyscallFill(out, n);
  else
    kDraw(out, n);
  WipeRegisters();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.grndpool_in_draw = 0;
}

// In the order of enum Strategy; the names come from the options table.
constexpr void (*kDraws[])(void *, size_t) = {
    nullptr,  // slab: the slow path serves it itself
    SyscallStrategyDraw,
    VdsoStrategyDraw,
    PerThreadStrategyDraw,
    SharedBufferStrategyDraw,
    MutexStrategyDraw,
    PerCpuStrategyDraw,
};
constexpr void (*kDirectDraws[])(void *, size_t) = {
    SlabStrategyDraw,
    DirectDraw<SyscallStrategyDraw>,
    DirectDraw<VdsoStrategyDraw>,
    DirectDraw<PerThreadStrategyDraw>,
    DirectDraw<SharedBufferStrategyDraw>,
    DirectDraw<MutexStrategyDraw>,
    DirectDraw<PerCpuStrategyDraw>,
};

}  // namespace

const StrategyOps &StrategyFor(Strategy strategy) {
  static const StrategyOps table[] = {
      {StrategyName(Strategy::kSlab), kDirectDraws[0]},
      {StrategyName(Strategy::kSyscall), kDirectDraws[1]},
      {StrategyName(Strategy::kVdso), kDirectDraws[2]},
      {StrategyName(Strategy::kPerThread), kDirectDraws[3]},
      {StrategyName(Strategy::kShared), kDirectDraws[4]},
      {StrategyName(Strategy::kMutex), kDirectDraws[5]},
      {StrategyName(Strategy::kPerCpu), kDirectDraws[6]},
  };
  return table[static_cast<int>(strategy)];
}

void StrategyDraw(Strategy strategy, void *out, size_t n) {
  kDraws[static_cast<int>(strategy)](out, n);
}

void InitStrategies(const Process &process) {
  InitUnbuffered(process);
  InitPerThreadStrategy(process);
  InitSharedBufferStrategy(process);
  InitMutexStrategy(process);
  InitPerCpuStrategy(process);
}

}  // namespace grndpool
