// The per-draw path: a thread-local load, a bounds check, a copy, a zeroing
// store and the cursor store. Everything else (first draw, refill, fork, generation change,
// overflow) is in the out-of-line slow path.
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

// A draw from a signal handler that interrupted a draw on the same thread.
[[gnu::noinline, gnu::cold]] void NestedDraw(void *out, size_t n);

// Copies the n bytes below `avail` out of the slice, zeroes them and moves
// avail down. Only the owning thread writes avail; stats readers load it
// relaxed, so the store is atomic (a plain move).
inline void ServeFromSlice(SliceHeader *slice, int32_t avail, void *out, size_t n) {
  const int32_t left = avail - static_cast<int32_t>(n);
  uint8_t *p = slice->data() + left;
  memcpy(out, p, n);
  memset(p, 0, n);
  std::atomic_ref<int32_t>(slice->avail).store(left, std::memory_order_relaxed);
}

// Serves n bytes from the thread's slice. The common case is a TLS load, a
// flag check, a compare, the copy, the zeroing store and the avail store.
template <bool kCheckGeneration>
inline void DrawFromThreadSlice(void *out, size_t n) {
  ThreadState &t = t_thread;
  if (__builtin_expect(t.in_draw, 0)) return NestedDraw(out, n);
  t.in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  SliceHeader *slice = t.slice;
  bool moved = false;
  uint64_t cookie = 0;
  if constexpr (kCheckGeneration) {
    cookie = slice->cookie;
    moved = g_ops->timestamp(&cookie) != 0;
  }
  const int32_t avail = std::atomic_ref<int32_t>(slice->avail).load(std::memory_order_relaxed);
  if (__builtin_expect(!moved && static_cast<size_t>(avail) >= n && avail > 0, 1)) {
    ServeFromSlice(slice, avail, out, n);
  } else {
    SlowDraw(out, n, moved, cookie);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.in_draw = 0;
}

inline void Draw(void *out, size_t n) {
  if (__builtin_expect(g_draw_flags.load(std::memory_order_acquire) != 0, 0))
    return DrawFlagged(out, n);
  DrawFromThreadSlice<false>(out, n);
}

}  // namespace grndpool
