// SPDX-License-Identifier: Apache-2.0
// The seed's design: every thread maps and locks its own 4 KiB buffer
// (MADV_WIPEONFORK), refilled from the kernel path with a refill size that
// doubles from 32 bytes while the generation holds and falls back to 32 when it
// moves, so little fresh data is thrown away right after a reseed.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/freshness.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/page_buffer.h"
#include "lib/strategies/strategies.h"

namespace grndpool {
namespace {

constexpr uint32_t kFirstRefill = 32;

const Process *g_process = nullptr;
thread_local PageBuffer *t_buffer [[gnu::tls_model("initial-exec")]] = nullptr;
// Set once the thread's page is freed (thread exit): later draws on the
// thread, from a signal handler or another key's destructor, go to the kernel
// instead of mapping a page nothing would free.
thread_local bool t_freed [[gnu::tls_model("initial-exec")]] = false;
pthread_key_t g_exit_key;
bool g_have_key = false;  // false: every pthread key is in use; draws go to the kernel
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

void FreeBuffer(void *) {
  PageBuffer *b = t_buffer;
  t_freed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (b == nullptr) return;
  t_buffer = nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  UnmapSegment(SegmentMapping{b, b->locked != 0, false}, kPageBufferBytes);
}

void CreateKey() {
  g_have_key = pthread_key_create(&g_exit_key, FreeBuffer) == 0;
}

// The thread's page, mapped on first use; nullptr when none can be had.
PageBuffer *ThreadBuffer() {
  if (t_buffer != nullptr || t_freed) return t_buffer;
  pthread_once(&g_key_once, CreateKey);
  if (!g_have_key) return nullptr;
  const SegmentMapping m = MapSegment(kPageBufferBytes, false);
  if (m.base == nullptr) return nullptr;
  if (pthread_setspecific(g_exit_key, m.base) != 0) {
    UnmapSegment(m, kPageBufferBytes);
    return nullptr;
  }
  t_buffer = static_cast<PageBuffer *>(m.base);
  t_buffer->locked = m.locked;
  t_buffer->ready = 1;
  return t_buffer;
}

// The thread's page, as Serve() reaches it.
struct PerThreadBuffer {
  PageBuffer *b;

  bool Wiped() const { return b->ready == 0; }
  void Reset() {  // a child after fork: locks are not inherited
    b->locked = LockSegment(b, kPageBufferBytes);
    CountLock(b->locked, kPageBufferBytes);
    b->ready = 1;
  }
  Stamp stamp() const { return b->stamp; }
  size_t Avail() const { return b->Avail(); }
  size_t Take(uint8_t *out, size_t n) { return b->Take(out, n); }
  bool Refill(const Stamp &s) {
    const bool moved = s.epoch != b->stamp.epoch;
    const uint32_t left = static_cast<uint32_t>(Avail());
    if (left > 0) {
      Count(g_counters.bytes_discarded, left);
      explicit_bzero(b->data, left);
    }
    b->refill =
        moved || b->refill == 0 ? kFirstRefill : std::min(b->refill * 2, kPageBufferCapacity);
    CountFill(g_process->kernel->fill(b->data, b->refill));
    Count(g_counters.refills);
    b->stamp = s;
    b->avail = static_cast<int32_t>(b->refill);
    return true;
  }
};

}  // namespace

void InitPerThreadStrategy(const Process &process) {
  g_process = &process;
}

void PerThreadStrategyDraw(void *out, size_t n) {
  PageBuffer *page = n <= kPageBufferCapacity / 2 ? ThreadBuffer() : nullptr;
  PerThreadBuffer buffer{page};
  if (page == nullptr || Serve(buffer, static_cast<uint8_t *>(out), n) != Served::kServed)
    CountFill(g_process->kernel->fill(out, n));  // large, unmappable, or cut by a fork
}

}  // namespace grndpool
