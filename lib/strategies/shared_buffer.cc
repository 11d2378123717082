// One buffer for the whole process: threads reserve ranges with an atomic
// cursor; a refill publishes a new buffer under RCU and frees the old one, wiped,
// after a grace period (so no reader is ever cut off mid-copy).
#include <sys/mman.h>
#include <urcu-bp.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "../fast_path.h"
#include "../generation.h"
#include "../slab_segment.h"
#include "../stats.h"
#include "../tsan.h"
#include "strategies.h"

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
std::mutex g_refill_mutex;         // one refiller at a time; others go to the kernel
thread_local bool t_in_draw [[gnu::tls_model("initial-exec")]] = false;
[[maybe_unused]] char g_grace_period;  // TSan only: readers release it, a finished grace period acquires it

// Replaces the buffer with a freshly filled one. Called with g_refill_mutex held.
void Replace(uint64_t previous_label) {
  SegmentMapping m = MapSegment(kBufferBytes);
  if (m.base == nullptr) return;
  auto *fresh = static_cast<SharedBuffer *>(m.base);
  CountLock(m.locked, kBufferBytes);
  bool moved = false;
  fresh->label = LabelForFill(*g_ops, previous_label, &moved);
  fresh->locked = m.locked;
  g_ops->fill(fresh->data, kCapacity);
  fresh->size = kCapacity;
  Count(g_counters.refills);
  GRNDPOOL_TSAN_RELEASE(fresh);
  SharedBuffer *old = rcu_xchg_pointer(&g_buffer, fresh);
  if (old == nullptr) return;
  synchronize_rcu();  // every reader that could see `old` has finished copying
  GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  const uint32_t taken = old->next.load(std::memory_order_relaxed);
  if (old->size > taken) Count(g_counters.bytes_discarded, old->size - taken);
  if (old->locked) g_counters.locked_bytes.fetch_sub(kBufferBytes, std::memory_order_relaxed);
  explicit_bzero(old, kBufferBytes);
  munmap(old, kBufferBytes);
}

// Serves from the current buffer; false when it is exhausted or stale.
bool TryServe(void *out, size_t n, uint64_t *label) {
  bool served = false;
  rcu_read_lock();
  SharedBuffer *b = rcu_dereference(g_buffer);
  if (b != nullptr) {
    GRNDPOOL_TSAN_ACQUIRE(b);
    *label = b->label;
    const uint32_t size = b->size;
    const uint32_t at = b->next.fetch_add(static_cast<uint32_t>(n), std::memory_order_relaxed);
    if (size != 0 && at + n <= size && at + n > at) {
      served = LabelIsCurrent(*g_ops, b->label);
      if (served) memcpy(out, b->data + at, n);
      memset(b->data + at, 0, n);
    }
  }
  GRNDPOOL_TSAN_RELEASE(&g_grace_period);
  rcu_read_unlock();
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
void SharedBufferLockForFork() {
  g_refill_mutex.lock();
}
void SharedBufferUnlockAfterFork() {
  g_refill_mutex.unlock();
}
}  // namespace grndpool
