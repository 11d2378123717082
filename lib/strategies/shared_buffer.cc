// SPDX-License-Identifier: Apache-2.0
// One buffer for the whole process: threads reserve ranges with an atomic
// cursor; a refill publishes a new buffer under RCU and frees the old one, wiped,
// after a grace period (so no reader is ever cut off mid-copy).
#include <urcu-bp.h>

#include <atomic>
#include <cstring>
#include <iterator>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/segment_directory.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/strategies.h"
#include "lib/tsan.h"

namespace grndpool {
namespace {

constexpr size_t kBufferBytes = 4096;

struct SharedBuffer {
  std::atomic<uint32_t> next;  // reservation cursor; may run past size
  uint32_t size;               // 0 in a child after fork (the page is wiped)
  uint32_t locked;
  uint32_t pad0_;
  Stamp stamp;
  uint32_t pad_[8];
  uint8_t data[kBufferBytes - 64];
};
static_assert(sizeof(SharedBuffer) == kBufferBytes);
constexpr uint32_t kCapacity = sizeof(SharedBuffer::data);

const Process *g_process = nullptr;
SharedBuffer *g_buffer = nullptr;  // RCU-protected
// Replaced buffers not unmapped yet: a caller inside a read-side section (its
// own or the application's, when it shares liburcu) must not wait for a grace
// period, so they are retired and unmapped by a later refill. Under the mutex.
struct Retired {
  SharedBuffer *buffers[64];
  int count = 0;
};
Retired g_retired;
// One refiller at a time; others go to the kernel. In a child, where liburcu
// may have been copied mid-update (RcuUsable() is false), every access holds it.
fork::ForkSafeMutex g_refill_mutex;
[[maybe_unused]] char
    g_grace_period;  // TSan only: readers release it, a finished grace period acquires it

// Publishes a freshly filled buffer under `stamp`. Called with g_refill_mutex
// held, so it calls nothing of liburcu's that may lock (see
// segment_directory.cc). Replaced buffers wait in g_retired; with `retire` set
// they are handed to *handed, to be unmapped by FreeRetired() with no lock
// held. Returns the new buffer, or nullptr when none could be mapped.
SharedBuffer *Replace(const Stamp &stamp, bool retire, Retired *handed) {
  const SegmentMapping m = MapSegment(kBufferBytes, false);
  if (m.base == nullptr) return nullptr;
  auto *fresh = static_cast<SharedBuffer *>(m.base);
  fresh->locked = m.locked;
  CountFill(g_process->kernel->fill(fresh->data, kCapacity));
  fresh->stamp = stamp;
  fresh->size = kCapacity;
  Count(g_counters.refills);
  GRNDPOOL_TSAN_RELEASE(fresh);
  SharedBuffer *old = rcu_xchg_pointer(&g_buffer, fresh);
  if (old != nullptr) {
    const uint32_t taken = old->next.load(std::memory_order_relaxed);
    if (old->size > taken) Count(g_counters.bytes_discarded, old->size - taken);
    // Past 64 waiting, a buffer simply stays mapped (locked, wipe-on-fork): a
    // reader may still hold it.
    if (g_retired.count < static_cast<int>(std::size(g_retired.buffers)))
      g_retired.buffers[g_retired.count++] = old;
  }
  if (retire) {
    *handed = g_retired;
    g_retired.count = 0;
  }
  return fresh;
}

// Unmaps buffers Replace() handed back, after a grace period. No lock held.
void FreeRetired(const Retired &retired) {
  if (retired.count == 0) return;
  if (RcuUsable()) {
    synchronize_rcu();  // every reader that could see a retired buffer has finished copying
    GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  }
  for (int i = 0; i < retired.count; ++i) {
    SharedBuffer *b = retired.buffers[i];
    UnmapSegment(SegmentMapping{b, b->locked != 0, false}, kBufferBytes);
  }
}

// The buffer, as Serve() reaches it, inside a read-side section (or, in a
// child, with g_refill_mutex held: `holds_mutex`).
struct SharedView {
  SharedBuffer *b;
  bool holds_mutex;
  bool may_retire;  // not inside another read-side section: a grace period may be waited for
  Retired retired{};

  bool Wiped() const { return false; }  // a child's copy reads as zeros: stale, refilled
  void Reset() {}
  Stamp stamp() const { return b != nullptr ? b->stamp : Stamp{}; }
  size_t Avail() const {
    if (b == nullptr) return 0;
    const uint32_t next = b->next.load(std::memory_order_relaxed);
    return b->size > next ? b->size - next : 0;
  }
  // All n bytes or none.
  size_t Take(uint8_t *out, size_t n) {
    if (b == nullptr) return 0;
    const uint32_t size = b->size;
    const uint32_t at = b->next.fetch_add(static_cast<uint32_t>(n), std::memory_order_relaxed);
    if (size == 0 || at + n > size || at + n <= at) return 0;
    memcpy(out, b->data + at, n);
    memset(b->data + at, 0, n);
    return n;
  }
  // Another thread may be refilling: then the kernel serves this draw, no wait.
  bool Refill(const Stamp &s) {
    if (!holds_mutex && !g_refill_mutex.try_lock()) return false;
    SharedBuffer *fresh = Replace(s, may_retire, &retired);
    if (!holds_mutex) g_refill_mutex.unlock();
    if (fresh == nullptr) return false;
    b = fresh;
    GRNDPOOL_TSAN_ACQUIRE(b);
    return true;
  }
};

void ChildAfterFork(bool via_atfork) {
  // A raw clone may have copied the list mid-way through another thread's
  // unmapping: forget it (at worst a few pages stay mapped in this child).
  if (!via_atfork) g_retired.count = 0;
  g_refill_mutex.ChildAfterFork(via_atfork);
}
const fork::Hooks kForkHooks{fork::MutexForkHooks<g_refill_mutex>::Prepare,
                             fork::MutexForkHooks<g_refill_mutex>::Parent, ChildAfterFork};

}  // namespace

void InitSharedBufferStrategy(const Process &process) {
  g_process = &process;
  fork::RegisterHooks(&kForkHooks);
}

void SharedBufferStrategyDraw(void *out, size_t n) {
  Served served = Served::kUnfilled;
  Retired retired;
  if (n > kCapacity / 4) {
    // Large: the kernel.
  } else if (!RcuUsable()) {
    // A child: no readers outside the mutex, so replaced buffers go at once.
    const fork::ForkSafeLock lock(g_refill_mutex);
    if (lock) {
      SharedView view{g_buffer, true, true};
      served = Serve(view, static_cast<uint8_t *>(out), n);
      retired = view.retired;
    }
  } else if (RcuReaderReady()) {  // else liburcu is done with this exiting thread
    // Inside a read-side section (the application's), a grace period would
    // wait for itself: replaced buffers then wait for a later refill.
    const bool may_retire = !rcu_read_ongoing();
    rcu_read_lock();
    SharedView view{rcu_dereference(g_buffer), false, may_retire};
    if (view.b != nullptr) GRNDPOOL_TSAN_ACQUIRE(view.b);
    served = Serve(view, static_cast<uint8_t *>(out), n);
    retired = view.retired;
    GRNDPOOL_TSAN_RELEASE(&g_grace_period);
    rcu_read_unlock();
  }
  FreeRetired(retired);
  if (served != Served::kServed) CountFill(g_process->kernel->fill(out, n));
}

}  // namespace grndpool
