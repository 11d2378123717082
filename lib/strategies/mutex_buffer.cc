// SPDX-License-Identifier: Apache-2.0
// The naive baseline: one locked buffer behind one mutex.
#include <cstring>
#include <mutex>

#include "lib/fork.h"
#include "lib/generation.h"
#include "lib/runtime.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/strategies.h"

namespace grndpool {
namespace {

constexpr size_t kBufferBytes = 4096;

struct MutexBuffer {
  uint32_t avail;
  uint32_t ready;  // 0 before first use and in a child after fork (wiped page)
  uint64_t label;
  uint32_t pad_[12];
  uint8_t data[kBufferBytes - 64];
};
static_assert(sizeof(MutexBuffer) == kBufferBytes);
constexpr uint32_t kCapacity = sizeof(MutexBuffer::data);

fork::ForkSafeMutex g_mutex;
MutexBuffer *g_buffer = nullptr;  // mapped once, under g_mutex
thread_local bool t_in_draw [[gnu::tls_model("initial-exec")]] = false;

MutexBuffer *Buffer() {
  if (g_buffer == nullptr) {
    SegmentMapping m = MapSegment(kBufferBytes, false);
    if (m.base == nullptr) return nullptr;
    g_buffer = static_cast<MutexBuffer *>(m.base);
    g_buffer->ready = 1;
  } else if (g_buffer->ready == 0) {  // a child after fork: locks are not inherited
    CountLock(LockSegment(g_buffer, kBufferBytes), kBufferBytes);
    g_buffer->ready = 1;
  }
  return g_buffer;
}

}  // namespace

void MutexStrategyDraw(void *out, size_t n) {
  if (ServedDirectly(t_in_draw, out, n, kCapacity / 4)) return;
  t_in_draw = true;
  const uint32_t forks = fork::ForkCount();
  bool cut = false;
  {
    std::lock_guard<fork::ForkSafeMutex> lock(g_mutex);
    MutexBuffer *b = Buffer();
    if (b == nullptr) {
      g_ops->fill(out, n);
    } else {
      if (b->avail < n || !LabelIsCurrent(*g_ops, b->label)) {
        bool moved = false;
        b->label = LabelForFill(*g_ops, b->label, &moved);
        if (moved) Count(g_counters.bytes_discarded, b->avail);
        g_ops->fill(b->data, kCapacity);  // overwrites what was left
        b->avail = kCapacity;
        Count(g_counters.refills);
      }
      uint8_t *p = b->data + b->avail - n;
      memcpy(out, p, n);
      memset(p, 0, n);
      b->avail -= static_cast<uint32_t>(n);
      cut = fork::ForkedSince(forks);  // a fork from a signal handler during the copy
    }
  }
  if (cut) g_ops->fill(out, n);
  t_in_draw = false;
}

void MutexBufferPrepareFork() {
  g_mutex.PrepareFork();
}
void MutexBufferParentAfterFork() {
  g_mutex.ParentAfterFork();
}
void MutexBufferChildAfterFork(bool via_atfork) {
  g_mutex.ChildAfterFork(via_atfork);
}

}  // namespace grndpool
