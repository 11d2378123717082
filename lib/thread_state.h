// SPDX-License-Identifier: Apache-2.0
// What each thread keeps in thread-local storage. Three blocks: the one the
// fast path reads (slice, tag, in-draw flag), which is exported as
// grndpool_thread_v1 with the public header's type, so the header's inline
// draws and the library read the same object under the same type; the
// per-draw lane's (vDSO entry, slice), exported as grndpool_lane_v1 the same
// way; and the library's own bookkeeping (ThreadState), which nothing outside
// reads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "grndpool/grndpool.h"
#include "lib/kernel/uapi.h"
#include "lib/slice.h"

namespace grndpool {

// Stand-in for "serve nothing here": shared by every thread whose draws must
// take the slow path (before the first draw, other strategies, GRND_TIMESTAMP
// per draw, which the lane serves instead, overflow, after thread exit), so
// the fast path needs no flag. Its
// avail stays 0; nothing ever writes it and it never holds data.
// Aligned like a SliceHeader, which the library reads it as.
alignas(SliceHeader) inline constinit grndpool_slice_v1 g_no_slice{};

// The public view of a slice header is the library's SliceHeader.
static_assert(sizeof(grndpool_slice_v1) == sizeof(SliceHeader));
static_assert(offsetof(grndpool_slice_v1, grndpool_avail) == offsetof(SliceHeader, avail));
static_assert(offsetof(grndpool_slice_v1, grndpool_owner) == offsetof(SliceHeader, owner));
static_assert(offsetof(grndpool_slice_v1, grndpool_cookie) ==
              offsetof(SliceHeader, stamp) + offsetof(Stamp, label));
static_assert(sizeof(struct grndpool_percpu_v1) == 128 &&
              offsetof(struct grndpool_percpu_v1, grndpool_aborts) == 64);
static_assert(offsetof(grndpool_slice_v1, grndpool_epoch) ==
              offsetof(SliceHeader, stamp) + offsetof(Stamp, epoch));

enum class ThreadPhase : uint8_t {
  kFresh,   // has not drawn yet
  kLive,    // has drawn; its exit destructor is registered
  kExited,  // its exit destructor ran: every later draw goes to the kernel
};

// The library's own per-thread state. Constant-initialised, so access is a
// plain %fs-relative load with no TLS init wrapper.
struct ThreadState {
  ThreadPhase phase = ThreadPhase::kFresh;
  bool hot = false;  // the owned slice is a hot slice (lib/hot_slices.h)
  Claim owned;       // the slice this thread owns, and its claim word, if any
  // GRND_TIMESTAMP per draw: set once the owned slice is set up; the slow
  // path's first lines then serve it after one cookie check (draws that the
  // lane, grndpool_lane_v1, did not serve inline).
  bool checked = false;
  // fork::ChildEpoch() when the thread last set up; 0 for a thread that has not.
  // Older than the current epoch: the thread came from the parent (it forked).
  uint32_t child_epoch = 0;
  uint32_t claim_backoff = 0;  // overflow threads retry claiming a slice this rarely
  // SliceFrees() before this thread's last claim, if it failed; 0 otherwise.
  // While it has not moved, a retry would fail too and is skipped.
  uint64_t claim_frees = 0;
  // Refills of a small slice, and CLOCK_MONOTONIC_COARSE (ns) at the last
  // look at the clock: a thread that refills often moves to a hot slice.
  uint32_t refills = 0;
  uint64_t refill_clock = 0;
  // An overflow thread's reservoir window (lib/refill.h, ReservoirDraw):
  // reset when the thread loses its slice (OwnedSlice finds it gone) and in
  // a child (ResetInChild), so a thread that just left a slice reads the
  // generation before its first overflow draw.
  ReservoirWindow reservoir;
  // The lean grant: what an overflow thread's word draws may take from the
  // reservoir on the miss path itself (lib/fast_path.h, TakeLeanBytes),
  // without the slow path: bytes already charged to the window above and to
  // claim_backoff (one back-off draw per 4 bytes) in the low half, the fork
  // count they were granted under in the high half. One word, read and
  // written whole (LoadLean, StoreLean): a signal handler that forks between
  // a read and a write leaves the child a grant of the parent's fork count,
  // which it drops, never a torn or wrapped one. Cleared wherever the
  // thread's serving state is (ForgetSlice).
  uint64_t lean = 0;
};

inline uint32_t LeanBytes(uint64_t lean) {
  return static_cast<uint32_t>(lean);
}
inline uint32_t LeanForks(uint64_t lean) {
  return static_cast<uint32_t>(lean >> 32);
}
inline uint64_t MakeLean(uint32_t bytes, uint32_t forks) {
  return uint64_t{forks} << 32 | bytes;
}
inline uint64_t LoadLean(const ThreadState &t) {
  return std::atomic_ref<uint64_t>(const_cast<uint64_t &>(t.lean)).load(std::memory_order_relaxed);
}
inline void StoreLean(ThreadState &t, uint64_t lean) {
  std::atomic_ref<uint64_t>(t.lean).store(lean, std::memory_order_relaxed);
}

inline thread_local constinit ThreadState t_state [[gnu::tls_model("initial-exec")]];

// The public header's types of the fast path's blocks (the variables below
// have the same names as the structs, which hides the structs' names in C++).
using FastThreadBlock = struct ::grndpool_thread_v1;
using LaneBlock = struct ::grndpool_lane_v1;
static_assert(std::is_same_v<decltype(LaneBlock::grndpool_vgetrandom), kernel::VdsoGetrandomFn>);

inline ThreadState &ThisThread() {
  return t_state;
}

}  // namespace grndpool

// The block the fast path reads, exported for the public header's inline
// draws (defined in lib/draw.cc). Initial-exec: a fixed offset from the thread
// pointer, also in a dlopen()ed library (glibc's static TLS surplus holds it).
// `in_draw` is set while the thread is inside a draw or releasing its slice: a
// signal handler that interrupts it and draws goes to the kernel instead of
// touching the slice, so the slice needs no atomic instructions.
//
// The per-draw lane (GRND_TIMESTAMP in the vDSO), exported for the same
// draws: written only by its own thread's slow path, and only after start-up
// finished, since it takes the vDSO entry from the kernel path start-up
// published (Process::kernel). A child after fork inherits it with the
// thread; the entry is valid there (the vDSO is mapped at the same address),
// and its slice was wiped (avail 0): nothing is served until the slow path
// has reset the child.
extern "C" {
extern thread_local constinit grndpool::FastThreadBlock grndpool_thread_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]];
extern thread_local constinit grndpool::LaneBlock grndpool_lane_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]];
}

namespace grndpool {

inline FastThreadBlock &FastBlock() {
  return grndpool_thread_v1;
}
// The slice the fast path serves from (&g_no_slice when none).
inline SliceHeader *ServingSlice() {
  return reinterpret_cast<SliceHeader *>(grndpool_thread_v1.grndpool_slice);
}
inline void ServeFrom(SliceHeader *slice) {
  grndpool_thread_v1.grndpool_slice = reinterpret_cast<grndpool_slice_v1 *>(slice);
}
// The lane serves `slice` after a call of `vgetrandom` says its cookie is
// current. The entry is stored first: the lane calls it only once the slice
// has data. Called by the slow path (grndpool_in_draw set).
inline void ServeFromLane(SliceHeader *slice, kernel::VdsoGetrandomFn vgetrandom) {
  grndpool_lane_v1.grndpool_vgetrandom = vgetrandom;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  grndpool_lane_v1.grndpool_slice = reinterpret_cast<grndpool_slice_v1 *>(slice);
}
// The lane's slice (&g_no_slice when off).
inline SliceHeader *LaneSlice() {
  return reinterpret_cast<SliceHeader *>(grndpool_lane_v1.grndpool_slice);
}
// Neither the fast path nor the lane serves anything.
inline void ServeNothing() {
  grndpool_thread_v1.grndpool_slice = &g_no_slice;
  grndpool_lane_v1.grndpool_slice = &g_no_slice;
}

}  // namespace grndpool
