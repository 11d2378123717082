// SPDX-License-Identifier: Apache-2.0
// The per-draw path: a thread-local load, a bounds check, a copy, a zeroing
// store, the cursor store and an ownership check; with GRND_TIMESTAMP in the
// vDSO (the lane), one call of the vDSO before the copy. Everything else
// (first draw, other strategies, refill, fork, generation change, overflow,
// thread exit) is in the out-of-line slow path, reached because the thread's
// slice pointers are &g_no_slice, its slice is empty or its cookie moved.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lib/kernel/uapi.h"
#include "lib/thread_state.h"

namespace grndpool {

// The slow path; `slab_only` ignores GRNDPOOL_STRATEGY (the bench's slab row).
// Called with FastBlock().grndpool_in_draw set. Never fails.
[[gnu::noinline]] void SlowDraw(void *out, size_t n, bool slab_only);

// A draw from a signal handler that interrupted a draw (or a release) on the
// same thread: straight from the kernel, touching no buffer and no lock.
[[gnu::noinline, gnu::cold]] void NestedDraw(void *out, size_t n);

// The copy was cut: a fork from a signal handler wiped the slab under it, the
// kernel dropped a MAP_DROPPABLE page, or a new epoch made the slice stale.
// Counts it and draws again from scratch.
[[gnu::noinline, gnu::cold]] void RedoCutDraw(void *out, size_t n, bool slab_only);

// GRNDPOOL_STRATEGY=per-cpu: set as start-up's last step (when the pool can
// be had: rseq, a thread key), after which the draws' miss path (every draw:
// threads own no slice then) tries the per-CPU buffers before the slow path.
// Stored with release and read with acquire: a thread that sees it set sees
// everything start-up wrote before it (the strategy's process pointer).
inline constinit std::atomic<bool> g_per_cpu_strategy{false};

// The per-cpu strategy's lean entry (lib/strategies/per_cpu.cc): n bytes from
// this CPU's buffer, with the in-draw flag set by the caller; false for
// anything but a plain serve (no rseq, not mapped, no free buffer, a child
// not reset yet, a fork during the copy), and the caller then takes its full
// path, which starts with the child's reset. Leaves no served byte or key in
// a vector register (a refill wipes them). Draws above 1 KiB (kMaxPiece, one
// section) always answer false.
[[gnu::noinline]] bool PerCpuTake(void *out, size_t n);
// The same for one word (n = 4 or 8), returned in registers (rax:rdx), so
// the word never goes through the library's stack.
struct PerCpuWord {
  uint64_t value;
  bool ok;
};
[[gnu::noinline]] PerCpuWord PerCpuTakeWord(size_t n);

// An overflow thread's word draws (n = 4 or 8) take its CPU's reservoir
// buffer on the miss path (PerCpuTakeWord), out of the bytes its last slow
// overflow draw granted (ThreadState::lean): the window and the claim
// back-off were charged then, so the thread reads the generation as often as
// if each draw took the slow path, and retries a claim no later (u64 draws
// spend two back-off draws each: after 128 of them). TakeLeanBytes, called
// with n of them left, spends n and counts the draw (before the serve: a call
// after it would spill the word to the stack); false (the grant gone) on a
// fork since the grant. EndLeanGrant, when PerCpuTakeWord did not serve, takes
// the count back and drops the grant; the slow path then draws.
[[gnu::noinline]] bool TakeLeanBytes(size_t n);
[[gnu::noinline, gnu::cold]] void EndLeanGrant(size_t n);

// The calling thread's draws that took the slow path so far (tests).
uint64_t SlowDrawsForTesting();

// Start-up of the process, once, by the first caller; true once it is done.
// Other threads wait for it. False only on the initialising thread itself (a
// signal handler that interrupted start-up): it then draws from the kernel.
bool EnsureInitialized();

// True in a child forked while another thread ran start-up: the library
// never finishes starting there, and every draw goes to the kernel.
bool StartUpCutByFork();

// Copies n bytes into the caller's buffer leaving no copy in registers where
// the architecture can (x86_64: memory to memory), like the public header's
// inline draws, and as they do: string moves up to 32 bytes, where rep
// movsb's start-up costs more than the copy (16 bytes: 2.4 ns against 8.5),
// rep movsb above ("movs{l|d}": either assembler syntax). The slow path
// wipes the registers anyway (WipeRegisters).
inline void CopyOut(void *out, const void *from, size_t n) {
#if defined(__x86_64__)
  if (n <= 32) {
    for (; n >= 8; n -= 8) __asm__ volatile("movsq" : "+D"(out), "+S"(from) : : "memory");
    if (n & 4) __asm__ volatile("movs{l|d}" : "+D"(out), "+S"(from) : : "memory");
    if (n & 2) __asm__ volatile("movsw" : "+D"(out), "+S"(from) : : "memory");
    if (n & 1) __asm__ volatile("movsb" : "+D"(out), "+S"(from) : : "memory");
    return;
  }
  __asm__ volatile("rep movsb" : "+D"(out), "+S"(from), "+c"(n) : : "memory");
#else
  memcpy(out, from, n);
#endif
}

// Copies the n bytes below `avail` out of the slice, zeroes them and moves
// avail down. Only the owning thread writes avail; stats readers load it
// relaxed, so the store is atomic (a plain move).
inline void ServeFromSlice(SliceHeader *slice, int32_t avail, void *out, size_t n) {
  const int32_t left = avail - static_cast<int32_t>(n);
  uint8_t *p = slice->data() + left;
  CopyOut(out, p, n);
  memset(p, 0, n);
  std::atomic_ref<int32_t>(slice->avail).store(left, std::memory_order_relaxed);
}

// The per-draw lane (GRND_TIMESTAMP in the vDSO), tried when the fast path's
// slice cannot serve n: the lane's slice and its avail when it has n bytes
// and the vDSO says the cookie they were made under is still current (one
// call, on a copy: the vDSO writes the new cookie over it when not);
// nullptr otherwise, for the slow path. The public header's inline draws
// do the same. Serving is then the fast path's, owner check included, which
// also catches a fork or a new epoch during the vDSO call.
inline SliceHeader *CheckedLaneSlice(size_t n, int32_t *avail) {
  SliceHeader *slice = LaneSlice();
  *avail = std::atomic_ref<int32_t>(slice->avail).load(std::memory_order_relaxed);
  if (*avail < 0 || static_cast<size_t>(*avail) < n) return nullptr;
  uint64_t cookie = slice->stamp.label;
  if (grndpool_lane_v1.grndpool_vgetrandom(&cookie, sizeof cookie, kernel::kGrndTimestamp, nullptr,
                                           0) != 0)
    return nullptr;
  return slice;
}

template <bool kSlabOnly>
inline void Draw(void *out, size_t n) {
  FastThreadBlock &t = FastBlock();
  if (__builtin_expect(t.grndpool_in_draw, 0)) return NestedDraw(out, n);
  t.grndpool_in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  SliceHeader *slice = ServingSlice();
  int32_t avail = std::atomic_ref<int32_t>(slice->avail).load(std::memory_order_relaxed);
  if (__builtin_expect(avail > 0 && static_cast<size_t>(avail) >= n, 1) ||
      (slice = CheckedLaneSlice(n, &avail)) != nullptr) {
    ServeFromSlice(slice, avail, out, n);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the check after the copy
    // The owner word shares the page (and cache line) of what was just copied.
    // After a fork in a signal handler during the copy the child's slab reads
    // zero, and a dropped page reads zero: either way it no longer names us.
    if (__builtin_expect(slice->owner.load(std::memory_order_relaxed) != t.grndpool_tag, 0))
      RedoCutDraw(out, n, kSlabOnly);
  } else if (kSlabOnly || !g_per_cpu_strategy.load(std::memory_order_acquire) ||
             !PerCpuTake(out, n)) {
    SlowDraw(out, n, kSlabOnly);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.grndpool_in_draw = 0;
}

// The cold ends of DrawWord: the word goes through memory only here.
template <typename T>
[[gnu::noinline, gnu::cold]] T NestedWord() {
  T v;
  NestedDraw(&v, sizeof v);
  return v;
}
// The word leaves in a register; the frame's copy is wiped, or it would stay
// in the dead stack below the caller (once a refill: 42 of 1000 u64 on
// 256-byte slices, found by dead_stack_probe).
template <typename T>
[[gnu::always_inline]] inline T WordOffStack(T &v) {
  T r = v;
  __asm__ volatile("" : "+r"(r));
  explicit_bzero(&v, sizeof v);
  return r;
}
template <typename T>
[[gnu::noinline]] T SlowWord() {
  T v;
  SlowDraw(&v, sizeof v, false);
  return WordOffStack(v);
}
template <typename T>
[[gnu::noinline, gnu::cold]] T RedoCutWord() {
  T v;
  RedoCutDraw(&v, sizeof v, false);
  return WordOffStack(v);
}

// Draw<false> for one word, returned in a register: the address of the result
// never escapes on the common path, so it is not stored and reloaded.
template <typename T>
inline T DrawWord() {
  FastThreadBlock &t = FastBlock();
  if (__builtin_expect(t.grndpool_in_draw, 0)) return NestedWord<T>();
  t.grndpool_in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  SliceHeader *slice = ServingSlice();
  int32_t avail = std::atomic_ref<int32_t>(slice->avail).load(std::memory_order_relaxed);
  T v;
  if (__builtin_expect(avail >= static_cast<int32_t>(sizeof(T)), 1) ||
      (slice = CheckedLaneSlice(sizeof(T), &avail)) != nullptr) {
    const int32_t left = avail - static_cast<int32_t>(sizeof(T));
    uint8_t *p = slice->data() + left;
    memcpy(&v, p, sizeof v);
    memset(p, 0, sizeof v);
    std::atomic_ref<int32_t>(slice->avail).store(left, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the check after the copy
    if (__builtin_expect(slice->owner.load(std::memory_order_relaxed) != t.grndpool_tag, 0))
      v = RedoCutWord<T>();  // see Draw
  } else if (!g_per_cpu_strategy.load(std::memory_order_acquire)) {
    PerCpuWord w{0, false};
    if (LeanBytes(LoadLean(ThisThread())) >= sizeof(T) && TakeLeanBytes(sizeof(T))) {
      w = PerCpuTakeWord(sizeof(T));
      if (!w.ok) EndLeanGrant(sizeof(T));
    }
    v = w.ok ? static_cast<T>(w.value) : SlowWord<T>();
  } else {
    const PerCpuWord w = PerCpuTakeWord(sizeof(T));
    v = w.ok ? static_cast<T>(w.value) : SlowWord<T>();
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.grndpool_in_draw = 0;
  return v;
}

}  // namespace grndpool
