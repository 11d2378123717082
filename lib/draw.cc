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
constinit SliceHeader g_no_slice{};  // never written

namespace {

void FlushSharedCounts(ThreadState &t) {
  if (t.unflushed_shared_draws == 0) return;
  Count(g_counters.shared_draws, t.unflushed_shared_draws);
  Count(g_counters.bytes_served, t.unflushed_shared_bytes);
  t.unflushed_shared_draws = 0;
  t.unflushed_shared_bytes = 0;
}

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
  FlushSharedCounts(t);
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
    const int32_t avail = slice->avail;  // only this thread writes it
    if (avail > 0) {
      const size_t take = std::min<size_t>(static_cast<size_t>(avail), n);
      ServeFromSlice(slice, avail, out, take);
      out += take;
      n -= take;
    } else if (n > capacity) {
      GenerateInto(slice, out, n);  // large request: skip the slice entirely
      return;
    } else {
      RefillSlice(slice, capacity, RefillReason{false, 0});
    }
  }
}

}  // namespace

void NestedDraw(void *out, size_t n) {
  // The interrupted draw may be mid-copy or mid-refill: leave the slice alone.
  kernel::SyscallFill(out, n);
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
}

void SlowDraw(void *out, size_t n, bool moved, uint64_t cookie) {
  ThreadState &t = t_thread;
  EnsureInitialized();
  CheckForkInChild();
  if (moved) NoteGeneration(~cookie);

  SliceHeader *slice = OwnedSlice(t);
  if (slice != nullptr) {
    DrawFromSlice(slice, static_cast<uint8_t *>(out), n, moved, cookie);
  } else if (n <= kMaxSharedDraw) {
    if (SharedDraw(out, n, t.tag)) {
      ++t.unflushed_shared_draws;
      t.unflushed_shared_bytes += n;
    }
  } else {
    g_ops->fill(out, n);
    Count(g_counters.kernel_draws);
    Count(g_counters.bytes_served, n);
  }
}

void ReleaseThread() {
  ThreadState &t = t_thread;
  FlushSharedCounts(t);
  if (t.slice != &g_no_slice && t.slice->owner.load(std::memory_order_relaxed) == t.tag)
    ReleaseSlice(t.slice);
  t.slice = &g_no_slice;
  ReleaseThreadCipher();
  if (g_ops != nullptr) g_ops->thread_exit();
}

}  // namespace grndpool
