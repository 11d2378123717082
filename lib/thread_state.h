// SPDX-License-Identifier: Apache-2.0
// What each thread keeps in thread-local storage: the pointer the fast path
// reads, and slow-path bookkeeping. Its first fields are also read by the inline
// draws of the public header (struct grndpool_thread_v1): the block is exported
// under that name, and the layout checks below keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/slice.h"

namespace grndpool {

// Stand-in for "serve nothing here": shared by every thread whose draws must
// take the slow path (before the first draw, other strategies, GRND_TIMESTAMP
// per draw, overflow, after thread exit), so the fast path needs no flag. Its
// avail stays 0; nothing ever writes it and it never holds data.
inline constinit SliceHeader g_no_slice{};

enum class ThreadPhase : uint8_t {
  kFresh,   // has not drawn yet
  kLive,    // has drawn; its exit destructor is registered
  kExited,  // its exit destructor ran: every later draw goes to the kernel
};

// Constant-initialised, so access is a plain %fs-relative load with no TLS
// init wrapper.
struct ThreadState {
  // -- read by the public header's inline draws (layout version 1) --
  SliceHeader *slice = &g_no_slice;  // what the fast path serves from
  uint32_t tag = 0;                  // nonzero once the thread has drawn
  // Set while this thread is inside a draw (or releasing its slice). A signal
  // handler that interrupts it and draws finds it set and goes to the kernel
  // instead of touching the slice, so the slice needs no atomic instructions.
  uint8_t in_draw = 0;
  // -- the library's own --
  ThreadPhase phase = ThreadPhase::kFresh;
  bool hot = false;              // the owned slice is a hot slice (lib/hot_slices.h)
  SliceHeader *owned = nullptr;  // the slice this thread owns, if any
  // GRND_TIMESTAMP per draw: the owned slice once set up, served by the slow
  // path's first lines after one cookie check (nullptr otherwise).
  SliceHeader *checked = nullptr;
  // fork::ChildEpoch() when the thread last set up; 0 for a thread that has not.
  // Older than the current epoch: the thread came from the parent (it forked).
  uint32_t child_epoch = 0;
  uint32_t claim_backoff = 0;  // overflow threads retry claiming a slice this rarely
  uint32_t capacity = 0;       // bytes the owned slice serves between refills
  // Refills of a small slice, and CLOCK_MONOTONIC_COARSE (ns) at the last
  // look at the clock: a thread that refills often moves to a hot slice.
  uint32_t refills = 0;
  uint64_t refill_clock = 0;
  // Overflow draws are counted here and added to the process counters at each
  // claim retry and at thread exit: a shared counter per draw would be most of
  // their cost.
  uint32_t unflushed_shared_draws = 0;
  uint64_t unflushed_shared_bytes = 0;
};

// Layout version 1 of the exported prefix (include/grndpool/grndpool.h).
static_assert(offsetof(ThreadState, slice) == 0 && offsetof(ThreadState, tag) == 8 &&
              offsetof(ThreadState, in_draw) == 12);
static_assert(offsetof(SliceHeader, avail) == 0 && offsetof(SliceHeader, owner) == 8 &&
              sizeof(SliceHeader) == 64);

}  // namespace grndpool

// The thread's state, exported for the inline draws. Initial-exec: a fixed
// offset from the thread pointer, also in a dlopen()ed library (glibc's static
// TLS surplus holds it).
extern "C" {
extern thread_local constinit grndpool::ThreadState grndpool_thread_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]];
}

namespace grndpool {
inline ThreadState &ThisThread() {
  return grndpool_thread_v1;
}
}  // namespace grndpool
