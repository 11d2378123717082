// SPDX-License-Identifier: Apache-2.0
// The seed's design: every thread maps and locks its own 4 KiB buffer
// (MADV_WIPEONFORK), refilled from the kernel path with a refill size that
// doubles from 32 bytes while the generation holds and falls back to 32 when it
// moves, so little fresh data is thrown away right after a reseed.
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "lib/fork.h"
#include "lib/generation.h"
#include "lib/runtime.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/strategies.h"

namespace grndpool {
namespace {

constexpr size_t kBufferBytes = 4096;
constexpr uint32_t kFirstRefill = 32;

// Lives at the start of the thread's page, so a child after fork sees it zeroed.
struct PerThreadBuffer {
  int32_t avail;         // bytes left, served from data[avail - n, avail)
  uint32_t refill_size;  // next refill; 0 in a fresh or forked page
  uint64_t label;        // generation label of the data
  uint32_t locked;       // mlock succeeded in this process
  uint32_t pad_[11];
  uint8_t data[kBufferBytes - 64];
};
static_assert(sizeof(PerThreadBuffer) == kBufferBytes);
constexpr uint32_t kCapacity = sizeof(PerThreadBuffer::data);

thread_local PerThreadBuffer *t_buffer [[gnu::tls_model("initial-exec")]] = nullptr;
// Set while this thread is inside a draw: a signal handler that interrupts one
// and draws goes to the kernel instead of touching the buffer.
thread_local bool t_in_draw [[gnu::tls_model("initial-exec")]] = false;
pthread_key_t g_exit_key;
bool g_have_key = false;  // false: every pthread key is in use; draws go to the kernel
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

void FreeBuffer(void *) {
  PerThreadBuffer *b = t_buffer;
  if (b == nullptr) return;
  t_in_draw = true;  // a signal handler drawing from here on goes to the kernel
  t_buffer = nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  UnmapSegment(SegmentMapping{b, b->locked != 0, false}, kBufferBytes);
}

void CreateKey() {
  g_have_key = pthread_key_create(&g_exit_key, FreeBuffer) == 0;
}

// Maps the thread's page on first use; locks it again in a child after fork.
PerThreadBuffer *ThreadBuffer() {
  if (t_buffer == nullptr) {
    pthread_once(&g_key_once, CreateKey);
    if (!g_have_key) return nullptr;
    SegmentMapping m = MapSegment(kBufferBytes, false);
    if (m.base == nullptr) return nullptr;
    if (pthread_setspecific(g_exit_key, m.base) != 0) {
      UnmapSegment(m, kBufferBytes);
      return nullptr;
    }
    t_buffer = static_cast<PerThreadBuffer *>(m.base);
    t_buffer->locked = m.locked;
    t_buffer->refill_size = kFirstRefill;
  } else if (t_buffer->refill_size == 0) {  // wiped by fork
    t_buffer->locked = LockSegment(t_buffer, kBufferBytes);
    CountLock(t_buffer->locked, kBufferBytes);
    t_buffer->refill_size = kFirstRefill;
  }
  return t_buffer;
}

void Refill(PerThreadBuffer *b, uint32_t need) {
  const uint32_t left = b->avail > 0 ? static_cast<uint32_t>(b->avail) : 0;
  bool moved = false;
  b->label = LabelForFill(*g_ops, b->label, &moved);
  if (moved) {
    Count(g_counters.bytes_discarded, left);
    b->refill_size = kFirstRefill;
  } else {
    b->refill_size = std::min(b->refill_size * 2, kCapacity);
  }
  b->refill_size = std::max(b->refill_size, need);
  explicit_bzero(b->data, left);
  g_ops->fill(b->data, b->refill_size);
  Count(g_counters.refills);
  std::atomic_signal_fence(std::memory_order_release);
  b->avail = static_cast<int32_t>(b->refill_size);
}

}  // namespace

void PerThreadStrategyDraw(void *out, size_t n) {
  if (ServedDirectly(t_in_draw, out, n, kCapacity / 2)) return;
  t_in_draw = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const uint32_t forks = fork::ForkCount();
  PerThreadBuffer *b = ThreadBuffer();
  if (b == nullptr) {
    g_ops->fill(out, n);
  } else {
    if (b->avail < static_cast<int32_t>(n) || !LabelIsCurrent(*g_ops, b->label))
      Refill(b, static_cast<uint32_t>(n));  // a stale buffer is discarded and counted
    b->avail -= static_cast<int32_t>(n);
    uint8_t *p = b->data + b->avail;
    memcpy(out, p, n);
    memset(p, 0, n);
    if (fork::ForkedSince(forks)) g_ops->fill(out, n);  // cut by a fork in a signal handler
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_in_draw = false;
}

}  // namespace grndpool
