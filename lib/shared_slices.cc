// SPDX-License-Identifier: Apache-2.0
#include "lib/shared_slices.h"

#include <cstring>

#include "lib/fork.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

const kernel::KernelOps *g_source = nullptr;  // the process's g_ops, given at start-up
uint32_t g_capacity = 0;
constexpr uint32_t kRefilling = 0xffffffffu;

struct Cursor {
  uint32_t round, filled, next;
};
Cursor Unpack(uint64_t word) {
  return {static_cast<uint32_t>(word >> 32), static_cast<uint32_t>((word >> 16) & 0xffff),
          static_cast<uint32_t>(word & 0xffff)};
}
uint64_t Pack(Cursor c) {
  return (static_cast<uint64_t>(c.round) << 32) | (static_cast<uint64_t>(c.filled) << 16) | c.next;
}
uint64_t Consumed(uint32_t round, uint32_t count) {
  return (static_cast<uint64_t>(round) << 32) | count;
}

// True when the data of `slice` was made under the kernel's current generation.
bool CookieCurrent(SharedSliceHeader *slice) {
  if (g_source->mode != kernel::GenerationMode::kPerDraw) return true;
  uint64_t cookie = slice->cookie.load(std::memory_order_acquire);
  if (g_source->timestamp(&cookie) == 0) return true;
  NoteGeneration(~cookie);
  return false;
}

// Marks `count` reserved bytes as done; when that completes the round, claims the
// refill and performs it. Only the thread whose CAS moves `consumed` from
// "all consumed" to kRefilling touches the data, so no reader is ever overwritten.
void Consume(SharedSliceHeader *slice, Cursor at, uint32_t count) {
  const uint64_t done = slice->consumed.fetch_add(count, std::memory_order_acq_rel) + count;
  if (done != Consumed(at.round, at.filled)) return;
  uint64_t expected = done;
  if (!slice->consumed.compare_exchange_strong(expected, Consumed(at.round, kRefilling),
                                               std::memory_order_acq_rel))
    return;
  // Label first, then fill: bytes are never older than their label.
  uint64_t cookie = slice->cookie.load(std::memory_order_relaxed);
  if (g_source->mode == kernel::GenerationMode::kPerDraw) (void)g_source->timestamp(&cookie);
  g_source->fill(slice->data(), g_capacity);
  Count(g_counters.refills);
  slice->cookie.store(cookie, std::memory_order_relaxed);
  const uint32_t round = at.round + 1;
  slice->consumed.store(Consumed(round, 0), std::memory_order_relaxed);
  slice->cursor.store(Pack({round, g_capacity, 0}), std::memory_order_release);
}

// Takes every unreserved byte of the current round and wipes it: used when the
// data is stale, and to close a round whose remainder is too small for a draw.
void CloseRound(SharedSliceHeader *slice) {
  uint64_t word = slice->cursor.load(std::memory_order_acquire);
  for (;;) {
    Cursor c = Unpack(word);
    if (c.next >= c.filled) return;
    Cursor closed{c.round, c.filled, c.filled};
    if (slice->cursor.compare_exchange_weak(word, Pack(closed), std::memory_order_acq_rel)) {
      explicit_bzero(slice->data() + c.next, c.filled - c.next);
      Count(g_counters.bytes_discarded, c.filled - c.next);
      Consume(slice, c, c.filled - c.next);
      return;
    }
  }
}

// Starts the very first round of a slice (all zero: round 0, nothing filled).
void StartIfUnfilled(SharedSliceHeader *slice) {
  if (slice->cursor.load(std::memory_order_acquire) == 0) Consume(slice, Cursor{0, 0, 0}, 0);
}

}  // namespace

void InitSharedSlices(const kernel::KernelOps *ops, uint32_t capacity) {
  g_source = ops;
  g_capacity = capacity > 0xffff ? 0xffff : capacity;
}

bool SharedDraw(void *out, size_t n, uint32_t tag) {
  size_t count = 0;
  SharedSliceHeader *slices = OverflowSlices(&count);
  if (slices != nullptr && count > 0) {
    auto *slice = reinterpret_cast<SharedSliceHeader *>(reinterpret_cast<uint8_t *>(slices) +
                                                        (tag % count) * Geometry().slice_bytes);
    const uint32_t forks = fork::ForkCount();
    StartIfUnfilled(slice);
    uint64_t word = slice->cursor.load(std::memory_order_acquire);
    for (int attempt = 0; attempt < 4; ++attempt) {
      Cursor c = Unpack(word);
      if (c.next + n > c.filled) {
        CloseRound(slice);
        word = slice->cursor.load(std::memory_order_acquire);
        continue;
      }
      Cursor taken{c.round, c.filled, static_cast<uint32_t>(c.next + n)};
      if (!slice->cursor.compare_exchange_weak(word, Pack(taken), std::memory_order_acq_rel))
        continue;
      // Our range cannot be overwritten until we consume it, so its label is stable.
      uint8_t *p = slice->data() + c.next;
      bool fresh = CookieCurrent(slice);
      if (fresh) memcpy(out, p, n);
      explicit_bzero(p, n);
      // A fork (from a signal handler) during the copy: the child's slab was
      // wiped under it, and the parent's bytes must not be the child's too.
      if (fork::ForkedSince(forks)) fresh = false;
      Consume(slice, c, static_cast<uint32_t>(n));
      if (!fresh) {
        CloseRound(slice);
        break;
      }
      return true;
    }
  }
  // Exhausted and being refilled, stale, or no room in the budget: the kernel.
  g_source->fill(out, n);
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
  return false;
}

}  // namespace grndpool
