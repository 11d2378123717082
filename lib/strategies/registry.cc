// The strategy table, and the dispatch for draws that leave the plain slab path.
#include "../fast_path.h"
#include "../runtime.h"
#include "../strategy.h"
#include "strategies.h"

namespace grndpool {

namespace {

// The common sizes get their own inlined copy, so the copy and the zeroing
// are single moves as in grndpool_u32()/grndpool_u64(), not library calls.
template <bool kCheck>
void SlabDrawSized(void *out, size_t n) {
  switch (n) {
    case 4:
      return DrawFromThreadSlice<kCheck>(out, 4);
    case 8:
      return DrawFromThreadSlice<kCheck>(out, 8);
    case 16:
      return DrawFromThreadSlice<kCheck>(out, 16);
    default:
      return DrawFromThreadSlice<kCheck>(out, n);
  }
}

void SlabDraw(void *out, size_t n) {
  if (g_draw_flags.load(std::memory_order_acquire) & kCheckEveryDraw)
    SlabDrawSized<true>(out, n);
  else
    SlabDrawSized<false>(out, n);
}

// Called directly (by the benchmark and tests), a strategy may be the first
// thing in the process to draw.
template <void (*kDraw)(void *, size_t)>
void AfterInit(void *out, size_t n) {
  if (__builtin_expect(g_draw_flags.load(std::memory_order_acquire) & kNotInitialized, 0))
    EnsureInitialized();
  kDraw(out, n);
}

const StrategyOps kStrategies[] = {
    {"slab", AfterInit<SlabDraw>},
    {"syscall", AfterInit<SyscallStrategyDraw>},
    {"vdso", AfterInit<VdsoStrategyDraw>},
    {"per-thread", AfterInit<PerThreadStrategyDraw>},
    {"shared", AfterInit<SharedBufferStrategyDraw>},
    {"mutex", AfterInit<MutexStrategyDraw>},
};

}  // namespace

const StrategyOps &StrategyFor(Strategy strategy) {
  return kStrategies[static_cast<int>(strategy)];
}

void DrawFlagged(void *out, size_t n) {
  uint8_t flags = g_draw_flags.load(std::memory_order_acquire);
  if (flags & kNotInitialized) {
    EnsureInitialized();
    flags = g_draw_flags.load(std::memory_order_acquire);
  }
  if (flags & kOtherStrategy)
    return kStrategies[static_cast<int>(CurrentOptions().strategy)].draw(out, n);
  SlabDraw(out, n);
}

}  // namespace grndpool
