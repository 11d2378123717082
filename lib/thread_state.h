// What each thread keeps in thread-local storage: one pointer the fast path
// reads, and slow-path bookkeeping.
#pragma once

#include <climits>
#include <cstdint>

#include "slice.h"

namespace grndpool {

// Stand-in for "no slice": shared by every thread without one, so the fast path
// needs no null check. Its avail is so negative that draws always fail on it
// (racing non-atomic updates only push it further down), and the slow path
// resets it; it never holds data.
inline constexpr int32_t kNoSliceAvail = INT32_MIN / 2;
extern SliceHeader g_no_slice;

// Constant-initialised, so access is a plain %fs-relative load with no TLS
// init wrapper.
struct ThreadState {
  SliceHeader *slice = &g_no_slice;  // the slice draws come from
  uint32_t tag = 0;                  // nonzero once the thread has drawn
  uint32_t claim_backoff = 0;        // overflow threads retry claiming a slice this rarely
  // Draws in progress on this thread: 1 in a draw, 2 in a signal handler that
  // interrupted one. A nested draw may take bytes with the xadd (that is
  // atomic with respect to the interrupted code) but must not refill: the
  // interrupted draw may hold a reserved range it has not copied yet.
  uint32_t depth = 0;
};

extern thread_local constinit ThreadState t_thread [[gnu::tls_model("initial-exec")]];

}  // namespace grndpool
