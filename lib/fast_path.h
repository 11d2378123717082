// The per-draw path: a thread-local load, a bounds check, a copy, a zeroing
// store. Everything else (first draw, refill, fork, generation change, overflow)
// is in the out-of-line slow path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernel/kernel_ops.h"
#include "thread_state.h"

namespace grndpool {

// Set once at start-up. Zero means: the slab strategy, and a source whose
// generation is checked at refills. Any bit set sends draws to DrawFlagged.
inline constexpr uint8_t kCheckEveryDraw = 1;  // GRND_TIMESTAMP in the vDSO: ask every draw
inline constexpr uint8_t kOtherStrategy = 2;   // GRNDPOOL_STRATEGY is not slab
inline constexpr uint8_t kNotInitialized = 4;  // the first draw of the process
// Acquire loads are plain moves on x86; they order the reads of g_ops after it.
extern std::atomic<uint8_t> g_draw_flags;
extern const kernel::KernelOps *g_ops;

// `moved`/`cookie`: the per-draw check saw a new generation and its cookie.
[[gnu::noinline, gnu::cold]] void SlowDraw(void *out, size_t n, bool moved, uint64_t cookie);
[[gnu::noinline]] void DrawFlagged(void *out, size_t n);

// Subtracts n from *avail and returns the old value, in one instruction that a
// signal handler on this thread cannot split: a handler that interrupts a draw
// and draws itself gets a disjoint range. No lock prefix: only the owner writes.
inline int32_t TakeAvail(int32_t *avail, int32_t n) {
#if defined(__x86_64__) || defined(__i386__)
  int32_t old = -n;
  __asm__ volatile("xaddl %0, %1" : "+r"(old), "+m"(*avail));
  return old;
#else
  return __atomic_fetch_sub(avail, n, __ATOMIC_RELAXED);
#endif
}

// Serves n bytes from the thread's slice. The common case compiles to a TLS
// load, the depth increment, the xadd, a compare, the copy, the zeroing store
// and the depth decrement.
template <bool kCheckGeneration>
inline void DrawFromThreadSlice(void *out, size_t n) {
  ThreadState &t = t_thread;
  ++t.depth;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  SliceHeader *slice = t.slice;
  bool moved = false;
  uint64_t cookie = 0;
  if constexpr (kCheckGeneration) {
    // A copy: if a signal handler runs between the check and SlowDraw, it must
    // see the old cookie and detect the change itself.
    cookie = slice->cookie;
    moved = g_ops->timestamp(&cookie) != 0;
  }
  bool served = false;
  if (!moved && __builtin_expect(n <= 0x7fffffff, 1)) {
    const int32_t want = static_cast<int32_t>(n);
    const int32_t avail = TakeAvail(&slice->avail, want);
    if (__builtin_expect(avail >= want, 1)) {
      uint8_t *p = slice->data() + (avail - want);
      memcpy(out, p, n);
      memset(p, 0, n);
      served = true;
    }
  }
  if (!served) SlowDraw(out, n, moved, cookie);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  --t.depth;
}

inline void Draw(void *out, size_t n) {
  if (__builtin_expect(g_draw_flags.load(std::memory_order_acquire) != 0, 0))
    return DrawFlagged(out, n);
  DrawFromThreadSlice<false>(out, n);
}

}  // namespace grndpool
