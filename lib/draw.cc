// The slow path of a draw: first draw of a thread, refill, fork, generation
// change, large requests, and threads beyond the slab budget.
#include <pthread.h>

#include <algorithm>
#include <cstring>

#include "fast_path.h"
#include "refill.h"
#include "runtime.h"
#include "shared_slices.h"
#include "slice_directory.h"
#include "stats.h"

namespace grndpool {

thread_local constinit ThreadState t_thread [[gnu::tls_model("initial-exec")]];
constinit SliceHeader g_no_slice{kNoSliceAvail, {}, {}, 0, 0, 0, {}};

namespace {

constexpr uint32_t kClaimRetryInterval = 256;  // overflow threads' slow draws between claims

// The slice this thread owns, claiming one if it has none (first draw, after fork,
// or a periodic retry while in overflow). nullptr: share the overflow slices.
SliceHeader *OwnedSlice(ThreadState &t) {
  if (t.tag == 0) t.tag = RegisterThread();
  SliceHeader *slice = t.slice;
  if (slice != &g_no_slice && slice->owner.load(std::memory_order_relaxed) == t.tag) return slice;
  if (slice == &g_no_slice && t.claim_backoff > 0) {
    --t.claim_backoff;
    return nullptr;
  }
  slice = ClaimSlice(t.tag);
  t.slice = slice != nullptr ? slice : &g_no_slice;
  t.claim_backoff = slice != nullptr ? 0 : kClaimRetryInterval;
  return slice;
}

// Serves n bytes from an owned slice, refilling as often as needed.
void DrawFromSlice(SliceHeader *slice, uint8_t *out, size_t n, bool moved, uint64_t cookie) {
  const uint32_t capacity = SliceCapacity();
  if (moved) RefillSlice(slice, capacity, RefillReason{true, cookie});
  while (n > 0) {
    const int32_t avail = slice->avail;
    if (avail > 0) {
      const int32_t take = static_cast<int32_t>(std::min<size_t>(static_cast<size_t>(avail), n));
      const int32_t old = TakeAvail(&slice->avail, take);
      if (old < take) {
        // A signal handler drew between the read and the xadd. Giving the bytes
        // back is safe here: while depth is set no handler can refill.
        (void)TakeAvail(&slice->avail, -take);
        continue;
      }
      uint8_t *p = slice->data() + (old - take);
      memcpy(out, p, static_cast<size_t>(take));
      memset(p, 0, static_cast<size_t>(take));
      out += take;
      n -= static_cast<size_t>(take);
    } else if (n > capacity) {
      GenerateInto(slice, out, n);  // large request: skip the slice entirely
      return;
    } else {
      RefillSlice(slice, capacity, RefillReason{false, 0});
    }
  }
}

}  // namespace

void SlowDraw(void *out, size_t n, bool moved, uint64_t cookie) {
  ThreadState &t = t_thread;
  if (t.depth > 1) {
    // A signal handler interrupted a draw on this thread: the slice may hold a
    // range that draw reserved but has not copied, or be mid-refill, so go to
    // the kernel with the syscall.
    kernel::SyscallFill(out, n);
    Count(g_counters.kernel_draws);
    Count(g_counters.bytes_served, n);
    return;
  }
  EnsureInitialized();
  CheckForkInChild();
  // A failed fast-path draw left avail below zero. The fewer than n bytes that
  // were left are not given back: a signal handler may have refilled the slice
  // since, and adding n to its avail would serve bytes twice. The next refill
  // overwrites them. The shared stand-in is reset so it never drifts.
  if (t.slice == &g_no_slice)
    std::atomic_ref<int32_t>(g_no_slice.avail).store(kNoSliceAvail, std::memory_order_relaxed);
  if (moved) NoteGeneration(~cookie);

  SliceHeader *slice = OwnedSlice(t);
  if (slice != nullptr) {
    DrawFromSlice(slice, static_cast<uint8_t *>(out), n, moved, cookie);
  } else if (n <= kMaxSharedDraw) {
    SharedDraw(out, n, t.tag);
  } else {
    g_ops->fill(out, n);
    Count(g_counters.kernel_draws);
    Count(g_counters.bytes_served, n);
  }
}

void ReleaseThread() {
  ThreadState &t = t_thread;
  if (t.slice != &g_no_slice && t.slice->owner.load(std::memory_order_relaxed) == t.tag)
    ReleaseSlice(t.slice);
  t.slice = &g_no_slice;
  ReleaseThreadCipher();
  if (g_ops != nullptr) g_ops->thread_exit();
}

}  // namespace grndpool
