// SPDX-License-Identifier: Apache-2.0
// One buffer for the whole process: threads reserve ranges with an atomic
// cursor; a refill publishes a new buffer under RCU and frees the old one, wiped,
// after a grace period (so no reader is ever cut off mid-copy).
#include <sys/mman.h>
#include <urcu-bp.h>

#include <atomic>
#include <iterator>
#include <cstring>
#include <mutex>

#include "lib/fork.h"
#include "lib/generation.h"
#include "lib/runtime.h"
#include "lib/slab_segment.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/strategies/strategies.h"
#include "lib/tsan.h"

namespace grndpool {
namespace {

constexpr size_t kBufferBytes = 4096;

struct SharedBuffer {
  std::atomic<uint32_t> next;  // reservation cursor; may run past size
  uint32_t size;               // 0 in a child after fork (the page is wiped)
  uint64_t label;
  uint32_t locked;
  uint32_t pad_[11];
  uint8_t data[kBufferBytes - 64];
};
static_assert(sizeof(SharedBuffer) == kBufferBytes);
constexpr uint32_t kCapacity = sizeof(SharedBuffer::data);

SharedBuffer *g_buffer = nullptr;  // RCU-protected
// Replaced buffers not unmapped yet: a caller inside a read-side section (its
// own or the application's, when it shares liburcu) must not wait for a grace
// period, so they are retired and unmapped by a later refill. Under the mutex.
struct Retired {
  SharedBuffer *buffers[64];
  int count = 0;
};
Retired g_retired;
// False in a child process: liburcu's registry may have been copied mid-update
// there (the library calls none of liburcu's fork hooks, see slice_directory.cc),
// so every access takes g_refill_mutex instead of a read-side section.
bool g_rcu_usable = true;
fork::ForkSafeMutex g_refill_mutex;  // one refiller at a time; others go to the kernel
thread_local bool t_in_draw [[gnu::tls_model("initial-exec")]] = false;
[[maybe_unused]] char
    g_grace_period;  // TSan only: readers release it, a finished grace period acquires it

// Replaces the buffer with a freshly filled one. Called with g_refill_mutex
// held, so it calls nothing of liburcu's that may lock (see slice_directory.cc):
// with `retire` set, the replaced buffers are handed back, to be unmapped by
// FreeRetired() after the mutex is released; otherwise they wait for a later call.
Retired Replace(uint64_t previous_label, bool retire) {
  SegmentMapping m = MapSegment(kBufferBytes, false);
  if (m.base == nullptr) return {};
  auto *fresh = static_cast<SharedBuffer *>(m.base);
  bool moved = false;
  fresh->label = LabelForFill(*g_ops, previous_label, &moved);
  fresh->locked = m.locked;
  g_ops->fill(fresh->data, kCapacity);
  fresh->size = kCapacity;
  Count(g_counters.refills);
  GRNDPOOL_TSAN_RELEASE(fresh);
  SharedBuffer *old = rcu_xchg_pointer(&g_buffer, fresh);
  if (old == nullptr) return {};
  const uint32_t taken = old->next.load(std::memory_order_relaxed);
  if (old->size > taken) Count(g_counters.bytes_discarded, old->size - taken);
  // Past 64 waiting, a buffer simply stays mapped (locked, wipe-on-fork): a
  // reader may still hold it.
  if (g_retired.count < static_cast<int>(std::size(g_retired.buffers)))
    g_retired.buffers[g_retired.count++] = old;
  if (!retire) return {};
  Retired handed = g_retired;
  g_retired.count = 0;
  return handed;
}

// Unmaps buffers Replace() handed back, after a grace period. No lock held.
void FreeRetired(const Retired &retired) {
  if (retired.count == 0) return;
  if (g_rcu_usable) {
    synchronize_rcu();  // every reader that could see a retired buffer has finished copying
    GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  }
  for (int i = 0; i < retired.count; ++i) {
    SharedBuffer *b = retired.buffers[i];
    UnmapSegment(SegmentMapping{b, b->locked != 0, false}, kBufferBytes);
  }
}

// Serves from the current buffer; false when it is exhausted or stale.
// Without RCU (a child process) the caller holds g_refill_mutex.
bool TryServe(void *out, size_t n, uint64_t *label) {
  bool served = false;
  const uint32_t forks = fork::ForkCount();
  if (g_rcu_usable) rcu_read_lock();
  SharedBuffer *b = g_rcu_usable ? rcu_dereference(g_buffer) : g_buffer;
  if (b != nullptr) {
    GRNDPOOL_TSAN_ACQUIRE(b);
    *label = b->label;
    const uint32_t size = b->size;
    const uint32_t at = b->next.fetch_add(static_cast<uint32_t>(n), std::memory_order_relaxed);
    if (size != 0 && at + n <= size && at + n > at) {
      served = LabelIsCurrent(*g_ops, b->label);
      if (served) memcpy(out, b->data + at, n);
      memset(b->data + at, 0, n);
      if (fork::ForkedSince(forks)) served = false;  // cut by a fork in a signal handler
    }
  }
  if (g_rcu_usable) {
    GRNDPOOL_TSAN_RELEASE(&g_grace_period);
    rcu_read_unlock();
  }
  return served;
}

}  // namespace

void SharedBufferStrategyDraw(void *out, size_t n) {
  if (ServedDirectly(t_in_draw, out, n, kCapacity / 4)) return;
  t_in_draw = true;
  uint64_t label = 0;
  if (g_rcu_usable && !RcuReaderReady()) {  // liburcu is done with this exiting thread
    g_ops->fill(out, n);
    t_in_draw = false;
    return;
  }
  if (!g_rcu_usable) {
    // A child: no readers outside the mutex, so replaced buffers go at once.
    Retired retired;
    {
      std::lock_guard<fork::ForkSafeMutex> lock(g_refill_mutex);
      if (!TryServe(out, n, &label)) {
        retired = Replace(label, true);
        if (!TryServe(out, n, &label)) g_ops->fill(out, n);
      }
    }
    FreeRetired(retired);
    t_in_draw = false;
    return;
  }
  bool served = TryServe(out, n, &label);
  // Inside a read-side section (ours here, or the application's), a grace
  // period would wait for itself: replaced buffers then wait for a later refill.
  const bool may_wait = !rcu_read_ongoing();
  if (!served && g_refill_mutex.try_lock()) {
    // Another thread may have replaced it meanwhile; Replace is cheap to repeat.
    const Retired retired = Replace(label, may_wait);
    g_refill_mutex.unlock();
    FreeRetired(retired);
    served = TryServe(out, n, &label);
  }
  if (!served) g_ops->fill(out, n);  // someone else is refilling: do not wait
  t_in_draw = false;
}

}  // namespace grndpool

namespace grndpool {
void SharedBufferPrepareFork() {
  g_refill_mutex.PrepareFork();
}
void SharedBufferParentAfterFork() {
  g_refill_mutex.ParentAfterFork();
}
void SharedBufferChildAfterFork(bool via_atfork) {
  g_rcu_usable = false;
  // A raw clone may have copied the list mid-way through another thread's
  // unmapping: forget it (at worst a few pages stay mapped in this child).
  if (!via_atfork) g_retired.count = 0;
  g_refill_mutex.ChildAfterFork(via_atfork);
}
}  // namespace grndpool
