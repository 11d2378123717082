// What each thread keeps in thread-local storage: one pointer the fast path
// reads, and slow-path bookkeeping.
#pragma once

#include <cstdint>

#include "slice.h"

namespace grndpool {

// Stand-in for "no slice": shared by every thread without one, so the fast path
// needs no null check. Its avail stays 0, so draws always fail on it; nothing
// ever writes it, and it never holds data.
extern SliceHeader g_no_slice;

// Constant-initialised, so access is a plain %fs-relative load with no TLS
// init wrapper.
struct ThreadState {
  SliceHeader *slice = &g_no_slice;  // the slice draws come from
  uint32_t tag = 0;                  // nonzero once the thread has drawn
  uint32_t claim_backoff = 0;        // overflow threads retry claiming a slice this rarely
  // Overflow draws are counted here and added to the process counters at each
  // claim retry and at thread exit: a shared counter per draw would be most of
  // their cost.
  uint32_t unflushed_shared_draws = 0;
  uint64_t unflushed_shared_bytes = 0;
  // Set while this thread is inside a draw. A signal handler that interrupts a
  // draw and draws itself finds it set and goes to the kernel instead of
  // touching the slice, so the slice needs no atomic instructions.
  uint8_t in_draw = 0;
};

extern thread_local constinit ThreadState t_thread [[gnu::tls_model("initial-exec")]];

}  // namespace grndpool
