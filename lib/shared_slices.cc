// SPDX-License-Identifier: Apache-2.0
#include "lib/shared_slices.h"

#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;
constexpr uint32_t kRefilling = 0xffffffffu;
// The overflow segment: the slab budget's last segment, set aside for it by
// the slice directory, mapped on first use.
std::atomic<SharedSliceHeader *> g_slices{nullptr};
SegmentMapping g_mapping{};
fork::ForkSafeMutex g_map_mutex;

// The cursor's three fields (16 bits of offset: a shared slice serves at most
// 64 KiB - 1 bytes a round).
uint32_t Capacity() {
  const uint32_t capacity = g_process->geometry.capacity;
  return capacity > 0xffff ? 0xffff : capacity;
}

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

Stamp StampOf(const SharedSliceHeader *slice) {
  return Stamp{slice->epoch.load(std::memory_order_acquire),
               slice->label.load(std::memory_order_relaxed)};
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
  // Stamp first, then fill: bytes are never older than their label.
  const Stamp stamp = StampForFill(StampOf(slice));
  CountFill(g_process->kernel->fill(slice->data(), Capacity()));
  Count(g_counters.refills);
  slice->label.store(stamp.label, std::memory_order_relaxed);
  slice->epoch.store(stamp.epoch, std::memory_order_release);
  const uint32_t round = at.round + 1;
  slice->consumed.store(Consumed(round, 0), std::memory_order_relaxed);
  slice->cursor.store(Pack({round, Capacity(), 0}), std::memory_order_release);
}

// Takes every unreserved byte of the current round and wipes it: used when the
// data is stale, and to close a round whose remainder is too small for a draw.
void CloseRound(SharedSliceHeader *slice) {
  uint64_t word = slice->cursor.load(std::memory_order_acquire);
  for (;;) {
    const Cursor c = Unpack(word);
    if (c.next >= c.filled) return;
    const Cursor closed{c.round, c.filled, c.filled};
    if (slice->cursor.compare_exchange_weak(word, Pack(closed), std::memory_order_acq_rel)) {
      explicit_bzero(slice->data() + c.next, c.filled - c.next);
      Count(g_counters.bytes_discarded, c.filled - c.next);
      Consume(slice, c, c.filled - c.next);
      return;
    }
  }
}

// A shared slice, as Serve() reaches it: lock-free, by reservation. Threads
// reserve ranges with one CAS on the cursor; the thread that consumes a
// round's last byte refills it.
struct SharedSliceBuffer {
  SharedSliceHeader *slice;

  // Never started, or wiped in a child after fork (round 0, nothing filled).
  bool Wiped() const { return slice->cursor.load(std::memory_order_acquire) == 0; }
  void Reset() { Consume(slice, Cursor{0, 0, 0}, 0); }  // starts round 1
  Stamp stamp() const { return StampOf(slice); }
  size_t Avail() const {
    const Cursor c = Unpack(slice->cursor.load(std::memory_order_acquire));
    return c.filled - c.next;
  }
  // All n bytes or none: a range too small for the draw closes the round.
  size_t Take(uint8_t *out, size_t n) {
    uint64_t word = slice->cursor.load(std::memory_order_acquire);
    for (int attempt = 0; attempt < 4; ++attempt) {
      const Cursor c = Unpack(word);
      if (c.next + n > c.filled) {
        CloseRound(slice);
        word = slice->cursor.load(std::memory_order_acquire);
        continue;
      }
      const Cursor taken{c.round, c.filled, static_cast<uint32_t>(c.next + n)};
      if (!slice->cursor.compare_exchange_weak(word, Pack(taken), std::memory_order_acq_rel))
        continue;
      // The reserved range cannot be refilled until it is consumed, so the
      // round's stamp is stable: checked again here, where it is certain.
      uint8_t *p = slice->data() + c.next;
      const bool fresh = IsCurrent(StampOf(slice));
      if (fresh) memcpy(out, p, n);
      explicit_bzero(p, n);
      Consume(slice, c, static_cast<uint32_t>(n));
      if (!fresh) {
        CloseRound(slice);
        return 0;
      }
      return n;
    }
    return 0;
  }
  // Closes the round; the thread that consumes its last byte refills it,
  // which may be this one or one still copying.
  bool Refill(const Stamp &) {
    CloseRound(slice);
    return Avail() > 0 && IsCurrent(stamp());
  }
};

// The overflow slices (mapped on first use), or nullptr when the budget
// leaves no room for them. Sets *count. Shared slices are not owned, so a
// dropped page could not be noticed: never MAP_DROPPABLE.
SharedSliceHeader *Slices(size_t *count) {
  const SlabGeometry &g = g_process->geometry;
  *count = g.slices_per_segment;
  SharedSliceHeader *slices = g_slices.load(std::memory_order_acquire);
  if (slices != nullptr || g.max_segments < 2) return slices;
  const fork::ForkSafeLock lock(g_map_mutex);
  if (!lock) return nullptr;
  slices = g_slices.load(std::memory_order_relaxed);
  if (slices == nullptr) {
    const SegmentMapping m = MapSegment(g.segment_bytes, false);
    if (m.base == nullptr) return nullptr;
    Count(g_counters.slab_bytes, g.segment_bytes);
    g_mapping = m;
    slices = static_cast<SharedSliceHeader *>(m.base);
    g_slices.store(slices, std::memory_order_release);
  }
  return slices;
}

// In a child the segment reads as zeros (every round unstarted); locks are
// not inherited, so it is locked again.
void ChildAfterFork(bool via_atfork) {
  g_map_mutex.ChildAfterFork(via_atfork);
  if (g_mapping.base == nullptr) return;
  g_mapping.locked = LockSegment(g_mapping.base, g_process->geometry.segment_bytes);
  CountLock(g_mapping.locked, g_process->geometry.segment_bytes);
}
const fork::Hooks kForkHooks{fork::MutexForkHooks<g_map_mutex>::Prepare,
                             fork::MutexForkHooks<g_map_mutex>::Parent, ChildAfterFork};

}  // namespace

void InitSharedSlices(const Process &process) {
  g_process = &process;
  fork::RegisterHooks(&kForkHooks);
}

bool SharedDraw(void *out, size_t n, uint32_t tag) {
  size_t count = 0;
  SharedSliceHeader *slices = Slices(&count);
  if (slices != nullptr && count > 0) {
    auto *slice = reinterpret_cast<SharedSliceHeader *>(
        reinterpret_cast<uint8_t *>(slices) + (tag % count) * g_process->geometry.slice_bytes);
    SharedSliceBuffer buffer{slice};
    if (Serve(buffer, static_cast<uint8_t *>(out), n) == Served::kServed) return true;
  }
  // Exhausted and being refilled, stale, cut by a fork, or no room in the
  // budget: the kernel.
  CountFill(g_process->kernel->fill(out, n));
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
  return false;
}

}  // namespace grndpool
