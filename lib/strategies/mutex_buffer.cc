// SPDX-License-Identifier: Apache-2.0
// The naive baseline: one locked buffer behind one mutex.
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/page_buffer.h"
#include "lib/strategies/strategies.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;
fork::ForkSafeMutex g_mutex;
PageBuffer *g_buffer = nullptr;  // mapped once, under g_mutex

// The one page, as Serve() reaches it, with g_mutex held.
struct MutexBuffer {
  PageBuffer *b;

  bool Wiped() const { return b->ready == 0; }
  void Reset() {  // a child after fork: locks are not inherited
    CountLock(LockSegment(b, kPageBufferBytes), kPageBufferBytes);
    b->ready = 1;
  }
  Stamp stamp() const { return b->stamp; }
  size_t Avail() const { return b->Avail(); }
  size_t Take(uint8_t *out, size_t n) { return b->Take(out, n); }
  bool Refill(const Stamp &s) {
    Count(g_counters.bytes_discarded, Avail());
    CountFill(g_process->kernel->fill(b->data, kPageBufferCapacity));  // overwrites what was left
    Count(g_counters.refills);
    b->stamp = s;
    b->avail = static_cast<int32_t>(kPageBufferCapacity);
    return true;
  }
};

PageBuffer *Buffer() {
  if (g_buffer == nullptr) {
    const SegmentMapping m = MapSegment(kPageBufferBytes, false);
    if (m.base == nullptr) return nullptr;
    g_buffer = static_cast<PageBuffer *>(m.base);
    g_buffer->ready = 1;
  }
  return g_buffer;
}

void ChildAfterFork(bool via_atfork) {
  g_mutex.ChildAfterFork(via_atfork);
}
const fork::Hooks kForkHooks{fork::MutexForkHooks<g_mutex>::Prepare,
                             fork::MutexForkHooks<g_mutex>::Parent, ChildAfterFork};

}  // namespace

void InitMutexStrategy(const Process &process) {
  g_process = &process;
  fork::RegisterHooks(&kForkHooks);
}

void MutexStrategyDraw(void *out, size_t n) {
  Served served = Served::kUnfilled;
  if (n <= kPageBufferCapacity / 4) {
    const fork::ForkSafeLock lock(g_mutex);
    if (PageBuffer *page = lock ? Buffer() : nullptr) {
      MutexBuffer buffer{page};
      served = Serve(buffer, static_cast<uint8_t *>(out), n);
    }
  }
  if (served != Served::kServed)
    CountFill(g_process->kernel->fill(out, n));  // large, unmappable, or cut
}

}  // namespace grndpool
