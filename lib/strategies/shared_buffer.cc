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
SharedBuffer *g_retired[64];
int g_retired_count = 0;
// False in a child process: liburcu's registry may have been copied mid-update
// there (the library calls none of liburcu's fork hooks, see slice_directory.cc),
// so every access takes g_refill_mutex instead of a read-side section.
bool g_rcu_usable = true;
fork::ForkSafeMutex g_refill_mutex;  // one refiller at a time; others go to the kernel
thread_local bool t_in_draw [[gnu::tls_model("initial-exec")]] = false;
[[maybe_unused]] char
    g_grace_period;  // TSan only: readers release it, a finished grace period acquires it

// Replaces the buffer with a freshly filled one. Called with g_refill_mutex held.
void Replace(uint64_t previous_label) {
  SegmentMapping m = MapSegment(kBufferBytes, false);
  if (m.base == nullptr) return;
  auto *fresh = static_cast<SharedBuffer *>(m.base);
  bool moved = false;
  fresh->label = LabelForFill(*g_ops, previous_label, &moved);
  fresh->locked = m.locked;
  g_ops->fill(fresh->data, kCapacity);
  fresh->size = kCapacity;
  Count(g_counters.refills);
  GRNDPOOL_TSAN_RELEASE(fresh);
  SharedBuffer *old = rcu_xchg_pointer(&g_buffer, fresh);
  if (old == nullptr) return;
  const uint32_t taken = old->next.load(std::memory_order_relaxed);
  if (old->size > taken) Count(g_counters.bytes_discarded, old->size - taken);
  if (g_rcu_usable && rcu_read_ongoing()) {
    // Unmapped by a later refill; past 64 of them inside one read section the
    // buffer simply stays mapped (locked, wipe-on-fork): a reader may hold it.
    if (g_retired_count + 1 < static_cast<int>(std::size(g_retired)))
      g_retired[g_retired_count++] = old;
    return;
  }
  g_retired[g_retired_count++] = old;
  if (g_rcu_usable) {
    synchronize_rcu();  // every reader that could see a retired buffer has finished copying
    GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  }
  for (int i = 0; i < g_retired_count; ++i) {
    SegmentMapping retired{g_retired[i], g_retired[i]->locked != 0, false};
    UnmapSegment(retired, kBufferBytes);
  }
  g_retired_count = 0;
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
  if (t_in_draw || n > kCapacity / 4) {
    g_ops->fill(out, n);  // re-entered from a signal handler, or large
    return;
  }
  t_in_draw = true;
  uint64_t label = 0;
  if (!g_rcu_usable) {
    std::lock_guard<fork::ForkSafeMutex> lock(g_refill_mutex);
    if (!TryServe(out, n, &label)) {
      Replace(label);
      if (!TryServe(out, n, &label)) g_ops->fill(out, n);
    }
    t_in_draw = false;
    return;
  }
  bool served = TryServe(out, n, &label);
  if (!served && g_refill_mutex.try_lock()) {
    // Another thread may have replaced it meanwhile; Replace is cheap to repeat.
    Replace(label);
    g_refill_mutex.unlock();
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
  g_refill_mutex.ChildAfterFork(via_atfork);
}
}  // namespace grndpool
