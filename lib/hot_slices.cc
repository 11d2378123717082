// SPDX-License-Identifier: Apache-2.0
#include "lib/hot_slices.h"

#include <atomic>
#include <mutex>

#include "lib/fork.h"
#include "lib/slab_segment.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

size_t g_slice_bytes = 0;  // 0: hot slices are off
size_t g_max_slices = 0;
// Mapped hot slices, in mapping order: slots are written once, before the
// release store of g_count that publishes them, and never change, so readers
// need no RCU. The array (g_max_slices slots) is mapped with the first slice.
SliceHeader **g_slices = nullptr;
std::atomic<size_t> g_count{0};
// Set when a new hot slice could not be locked: none is mapped after that.
// Those already mapped (and locked) are still handed out.
std::atomic<bool> g_no_more{false};
// Slices below this index are not handed out (raw-clone child).
std::atomic<size_t> g_quarantine_below{0};
fork::ForkSafeMutex g_map_mutex;  // serialises mapping new hot slices

SliceHeader *TryClaim(uint32_t tag) {
  const size_t count = g_count.load(std::memory_order_acquire);
  for (size_t i = g_quarantine_below.load(std::memory_order_relaxed); i < count; ++i) {
    SliceHeader *slice = g_slices[i];
    uint32_t expected = 0;
    if (slice->owner.load(std::memory_order_relaxed) == 0 &&
        slice->owner.compare_exchange_strong(expected, tag, std::memory_order_acquire))
      return slice;
  }
  return nullptr;
}

// A slice that cannot be locked is never handed out: the owner word holds a
// tag no thread has, for the life of the process.
void Shelve(SliceHeader *slice) {
  slice->owner.store(kRetiringTag, std::memory_order_relaxed);
  g_no_more.store(true, std::memory_order_relaxed);
}

// Maps one more hot slice, owned by `tag`; nullptr when none may be mapped.
SliceHeader *MapOne(uint32_t tag) {
  std::lock_guard<fork::ForkSafeMutex> lock(g_map_mutex);
  if (SliceHeader *slice = TryClaim(tag)) return slice;
  const size_t count = g_count.load(std::memory_order_relaxed);
  if (count >= g_max_slices || g_no_more.load(std::memory_order_relaxed)) return nullptr;
  if (g_slices == nullptr) {
    g_slices = static_cast<SliceHeader **>(MapPlain(g_max_slices * sizeof(SliceHeader *)));
    if (g_slices == nullptr) return nullptr;
  }
  if (!TakeSlabBudget(g_slice_bytes)) return nullptr;
  // A hot slice spans pages, so MAP_DROPPABLE is not an option (the owner word
  // could not tell that a later page was dropped); nor is unlocked memory.
  const uint32_t epoch = fork::ChildEpoch();
  SegmentMapping m = MapSegment(g_slice_bytes, false);
  const uint32_t epoch_mapped = fork::ChildEpoch();
  if (m.base == nullptr || !m.locked) {
    UnmapSegment(m, g_slice_bytes);
    ReturnSlabBudget(g_slice_bytes);
    if (m.base != nullptr) g_no_more.store(true, std::memory_order_relaxed);
    return nullptr;
  }
  Count(g_counters.slab_bytes, g_slice_bytes);
  auto *slice = static_cast<SliceHeader *>(m.base);
  slice->owner.store(tag, std::memory_order_relaxed);
  g_slices[count] = slice;
  g_count.store(count + 1, std::memory_order_release);
  // (A raw clone's child resets later, with the slice published.)
  if (!fork::RelockIfReset(epoch, epoch_mapped, slice, g_slice_bytes)) {
    Shelve(slice);
    return nullptr;
  }
  return slice;
}

void PrepareFork() {
  g_map_mutex.PrepareFork();
}
void ParentAfterFork() {
  g_map_mutex.ParentAfterFork();
}
// Every hot slice reads as free in the child (wipe-on-fork); locks are not
// inherited, so each is locked again, and one that cannot be is shelved.
// After glibc's fork() the forking thread forgot its slice in an atfork
// handler, so nothing needs holding back; after a raw clone the slices mapped
// before it wait until the forking thread is seen (LiftHotQuarantine).
void ChildAfterFork(bool via_atfork) {
  g_map_mutex.ChildAfterFork(via_atfork);
  const size_t count = g_count.load(std::memory_order_relaxed);
  g_quarantine_below.store(via_atfork ? 0 : count, std::memory_order_relaxed);
  for (size_t i = 0; i < count; ++i) {
    if (LockSegment(g_slices[i], g_slice_bytes)) {
      Count(g_counters.locked_bytes, g_slice_bytes);
    } else {
      Count(g_counters.mlock_failures);
      Shelve(g_slices[i]);
    }
  }
  g_counters.hot_slices_in_use.store(0, std::memory_order_relaxed);
}
const fork::Hooks kForkHooks{PrepareFork, ParentAfterFork, ChildAfterFork};

}  // namespace

void InitHotSlices(size_t slice_bytes, size_t max_slices) {
  if (slice_bytes <= kSliceHeaderBytes || max_slices == 0) return;
  g_slice_bytes = slice_bytes;
  g_max_slices = max_slices;
  fork::RegisterHooks(&kForkHooks);
}

uint32_t HotCapacity() {
  return g_slice_bytes != 0 ? static_cast<uint32_t>(g_slice_bytes - kSliceHeaderBytes) : 0;
}

bool HotSlicesMayGrow() {
  return g_slice_bytes != 0 && !g_no_more.load(std::memory_order_relaxed);
}

Claim ClaimHotSlice(uint32_t tag) {
  if (g_slice_bytes == 0) return Claim{};
  SliceHeader *slice = TryClaim(tag);
  if (slice == nullptr && g_count.load(std::memory_order_relaxed) < g_max_slices &&
      !g_no_more.load(std::memory_order_relaxed))
    slice = MapOne(tag);
  if (slice == nullptr) return Claim{};
  slice->Reset();
  Count(g_counters.slices_in_use);
  Count(g_counters.hot_slices_in_use);
  return Claim{slice, &slice->owner};
}

void ReleaseHotSlice(const Claim &claim, uint32_t tag) {
  if (RetireSlice(claim, HotCapacity(), tag))
    g_counters.hot_slices_in_use.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t LiveHotServedBytes() {
  uint64_t served = 0;
  const size_t count = g_count.load(std::memory_order_acquire);
  for (size_t i = 0; i < count; ++i) served += g_slices[i]->ServedSinceRefill();
  return served;
}

bool HotQuarantineActive() {
  return g_quarantine_below.load(std::memory_order_relaxed) != 0;
}

void LiftHotQuarantine() {
  g_quarantine_below.store(0, std::memory_order_relaxed);
}

}  // namespace grndpool
