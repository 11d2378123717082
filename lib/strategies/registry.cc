// The strategy table, and the dispatch for draws that leave the plain slab path.
#include "../fast_path.h"
#include "../runtime.h"
#include "../strategy.h"
#include "strategies.h"

namespace grndpool {

namespace {

void SlabDraw(void *out, size_t n) {
  if (g_draw_flags.load(std::memory_order_acquire) & kCheckEveryDraw)
    DrawFromThreadSlice<true>(out, n);
  else
    DrawFromThreadSlice<false>(out, n);
}

const StrategyOps kStrategies[] = {
    {"slab", SlabDraw},
    {"syscall", SyscallStrategyDraw},
    {"vdso", VdsoStrategyDraw},
    {"per-thread", PerThreadStrategyDraw},
    {"shared", SharedBufferStrategyDraw},
    {"mutex", MutexStrategyDraw},
};

}  // namespace

const StrategyOps &StrategyFor(Strategy strategy) {
  EnsureInitialized();
  return kStrategies[static_cast<int>(strategy)];
}

void DrawFlagged(void *out, size_t n) {
  uint8_t flags = g_draw_flags.load(std::memory_order_acquire);
  if (flags & kNotInitialized) {
    EnsureInitialized();
    flags = g_draw_flags.load(std::memory_order_acquire);
  }
  if (flags & kOtherStrategy) return kStrategies[static_cast<int>(CurrentOptions().strategy)].draw(out, n);
  SlabDraw(out, n);
}

}  // namespace grndpool
