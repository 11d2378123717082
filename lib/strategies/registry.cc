// SPDX-License-Identifier: Apache-2.0
// The strategy table, and the strategies' fork hooks.
#include "lib/fast_path.h"
#include "lib/fork.h"
#include "lib/kernel/syscall.h"
#include "lib/scrub.h"
#include "lib/strategies/registry.h"
#include "lib/strategies/strategies.h"

namespace grndpool {

namespace {

// The slab row ignores GRNDPOOL_STRATEGY, so the benchmark can compare it with
// the others in one process.
void SlabStrategyDraw(void *out, size_t n) {
  Draw<true>(out, n);
}

// Called directly (by the benchmark and tests), a strategy may be the first
// thing in the process to draw; while another thread initialises, the kernel.
// Like the slab's slow path, each leaves no copy of what it served in the
// vector registers.
template <void (*kDraw)(void *, size_t)>
void AfterInit(void *out, size_t n) {
  if (__builtin_expect(!EnsureInitialized(), 0)) return kernel::SyscallFill(out, n);
  kDraw(out, n);
  WipeRegisters();
}

// In the order of enum Strategy; the names come from the options table.
constexpr void (*kDraws[])(void *, size_t) = {
    SlabStrategyDraw,
    AfterInit<SyscallStrategyDraw>,
    AfterInit<VdsoStrategyDraw>,
    AfterInit<PerThreadStrategyDraw>,
    AfterInit<SharedBufferStrategyDraw>,
    AfterInit<MutexStrategyDraw>,
};

void PrepareFork() {
  MutexBufferPrepareFork();
  SharedBufferPrepareFork();
}
void ParentAfterFork() {
  SharedBufferParentAfterFork();
  MutexBufferParentAfterFork();
}
void ChildAfterFork(bool via_atfork) {
  SharedBufferChildAfterFork(via_atfork);
  MutexBufferChildAfterFork(via_atfork);
}
const fork::Hooks kForkHooks{PrepareFork, ParentAfterFork, ChildAfterFork};

}  // namespace

const StrategyOps &StrategyFor(Strategy strategy) {
  static const StrategyOps table[] = {
      {StrategyName(Strategy::kSlab), kDraws[0]},   {StrategyName(Strategy::kSyscall), kDraws[1]},
      {StrategyName(Strategy::kVdso), kDraws[2]},   {StrategyName(Strategy::kPerThread), kDraws[3]},
      {StrategyName(Strategy::kShared), kDraws[4]}, {StrategyName(Strategy::kMutex), kDraws[5]},
  };
  return table[static_cast<int>(strategy)];
}

void StrategyDraw(Strategy strategy, void *out, size_t n) {
  kDraws[static_cast<int>(strategy)](out, n);
}

void InitStrategies() {
  fork::RegisterHooks(&kForkHooks);
}

}  // namespace grndpool
