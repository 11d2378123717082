#include "slice_directory.h"

#include <unistd.h>
#include <urcu-bp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "slab_segment.h"
#include "tsan.h"
#include "stats.h"

namespace grndpool {
namespace {

struct Segment {
  uint8_t *base;
  bool locked;
};

// Immutable once published; replaced whole (copy, add, publish, wait, free).
struct Directory {
  size_t count;
  Segment segments[];  // owned-slice segments, oldest first
};

SlabGeometry g_geometry{};
Directory *g_directory = nullptr;  // RCU-protected: read with rcu_dereference
std::mutex g_grow_mutex;           // serialises writers of the directory and the overflow
std::atomic<SharedSliceHeader *> g_overflow{nullptr};
[[maybe_unused]] char g_grace_period;  // TSan only: readers release it, a finished grace period acquires it

// A read-side critical section over the directory.
const Directory *BeginRead() {
  rcu_read_lock();
  const Directory *dir = rcu_dereference(g_directory);
  GRNDPOOL_TSAN_ACQUIRE(dir);
  return dir;
}
void EndRead() {
  GRNDPOOL_TSAN_RELEASE(&g_grace_period);
  rcu_read_unlock();
}
Segment g_overflow_segment{};

size_t OwnedSegmentLimit() {
  // The last segment of the budget is kept for the shared overflow slices.
  return g_geometry.max_segments >= 2 ? g_geometry.max_segments - 1 : g_geometry.max_segments;
}

SliceHeader *SliceAt(const Segment &segment, size_t index) {
  return reinterpret_cast<SliceHeader *>(segment.base + index * g_geometry.slice_bytes);
}

SliceHeader *TryClaimIn(const Directory *dir, uint32_t tag) {
  for (size_t s = 0; s < dir->count; ++s) {
    for (size_t i = 0; i < g_geometry.slices_per_segment; ++i) {
      SliceHeader *slice = SliceAt(dir->segments[s], i);
      uint32_t expected = 0;
      if (slice->owner.load(std::memory_order_relaxed) == 0 &&
          slice->owner.compare_exchange_strong(expected, tag, std::memory_order_acquire))
        return slice;
    }
  }
  return nullptr;
}

Directory *NewDirectory(size_t count) {
  return static_cast<Directory *>(calloc(1, sizeof(Directory) + count * sizeof(Segment)));
}

void CountMapping(const SegmentMapping &m, size_t bytes) {
  Count(g_counters.slab_bytes, bytes);
  CountLock(m.locked, bytes);
}

// Maps one more segment and publishes it; returns a slice of it already owned by
// `tag`, or nullptr when the budget is spent.
SliceHeader *Grow(uint32_t tag) {
  Directory *old_dir;
  SliceHeader *mine = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_grow_mutex);
    old_dir = g_directory;
    // Another thread may have grown it, or a thread may have exited, meanwhile.
    if ((mine = TryClaimIn(old_dir, tag)) != nullptr) return mine;
    if (old_dir->count >= OwnedSegmentLimit()) return nullptr;
    SegmentMapping m = MapSegment(g_geometry.segment_bytes);
    if (m.base == nullptr) return nullptr;
    CountMapping(m, g_geometry.segment_bytes);
    Directory *dir = NewDirectory(old_dir->count + 1);
    if (dir == nullptr) return nullptr;  // the mapping stays unused: harmless, rare
    memcpy(dir->segments, old_dir->segments, old_dir->count * sizeof(Segment));
    dir->segments[old_dir->count] = Segment{static_cast<uint8_t *>(m.base), m.locked};
    dir->count = old_dir->count + 1;
    mine = SliceAt(dir->segments[old_dir->count], 0);
    mine->owner.store(tag, std::memory_order_relaxed);
    GRNDPOOL_TSAN_RELEASE(dir);
    rcu_set_pointer(&g_directory, dir);
  }
  // Readers that picked up old_dir may still be scanning it.
  synchronize_rcu();
  GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  free(old_dir);
  return mine;
}

}  // namespace

SlabGeometry ComputeGeometry(size_t slab_bytes, size_t slice_bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  SlabGeometry g{};
  g.slice_bytes = slice_bytes;
  g.segment_bytes = slice_bytes > page ? slice_bytes : page;
  g.max_segments = slab_bytes / g.segment_bytes;
  if (g.max_segments == 0) g.max_segments = 1;
  g.slices_per_segment = g.segment_bytes / slice_bytes;
  return g;
}

void InitSliceDirectory(const SlabGeometry &geometry) {
  g_geometry = geometry;
  g_directory = NewDirectory(0);
}

const SlabGeometry &Geometry() {
  return g_geometry;
}

SliceHeader *ClaimSlice(uint32_t tag) {
  const Directory *dir = BeginRead();
  SliceHeader *slice = TryClaimIn(dir, tag);
  // With the budget spent, growing is pointless: skip the writers' lock, which
  // overflow threads would otherwise all take on every retry.
  const bool may_grow = dir->count < OwnedSegmentLimit();
  EndRead();
  if (slice == nullptr && may_grow) slice = Grow(tag);
  if (slice != nullptr) Count(g_counters.slices_in_use);
  return slice;
}

void ReleaseSlice(SliceHeader *slice) {
  const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
  const int32_t left = slice->avail > 0 ? slice->avail : 0;
  Count(g_counters.bytes_served, filled > static_cast<uint32_t>(left) ? filled - left : 0);
  Count(g_counters.bytes_discarded, static_cast<uint64_t>(left));
  // Wipe everything but the owner word, then free the slice for the next thread.
  explicit_bzero(slice->data(), g_geometry.slice_bytes - kSliceHeaderBytes);
  explicit_bzero(slice->next_key, sizeof slice->next_key);
  std::atomic_ref<int32_t>(slice->avail).store(0, std::memory_order_relaxed);
  slice->filled.store(0, std::memory_order_relaxed);
  slice->cookie = 0;
  slice->keystream_left = 0;
  slice->owner.store(0, std::memory_order_release);
  g_counters.slices_in_use.fetch_sub(1, std::memory_order_relaxed);
}

SharedSliceHeader *OverflowSlices(size_t *count) {
  *count = g_geometry.slices_per_segment;
  SharedSliceHeader *slices = g_overflow.load(std::memory_order_acquire);
  if (slices != nullptr || g_geometry.max_segments < 2) return slices;
  std::lock_guard<std::mutex> lock(g_grow_mutex);
  slices = g_overflow.load(std::memory_order_relaxed);
  if (slices == nullptr) {
    SegmentMapping m = MapSegment(g_geometry.segment_bytes);
    if (m.base == nullptr) return nullptr;
    CountMapping(m, g_geometry.segment_bytes);
    g_overflow_segment = Segment{static_cast<uint8_t *>(m.base), m.locked};
    slices = static_cast<SharedSliceHeader *>(m.base);
    g_overflow.store(slices, std::memory_order_release);
  }
  return slices;
}

uint64_t LiveServedBytes() {
  uint64_t served = 0;
  const Directory *dir = BeginRead();
  for (size_t s = 0; s < dir->count; ++s) {
    for (size_t i = 0; i < g_geometry.slices_per_segment; ++i) {
      SliceHeader *slice = SliceAt(dir->segments[s], i);
      if (slice->owner.load(std::memory_order_relaxed) == 0) continue;
      // avail is written by its owner with a plain instruction; a torn or stale
      // value only makes this snapshot approximate.
      const int32_t left = std::atomic_ref<int32_t>(slice->avail).load(std::memory_order_relaxed);
      const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
      const uint32_t remaining = left > 0 ? static_cast<uint32_t>(left) : 0;
      if (filled > remaining) served += filled - remaining;
    }
  }
  EndRead();
  return served;
}

void RelockAfterFork() {
  // Only the forking thread exists in the child and it holds g_grow_mutex here.
  uint64_t locked = 0;
  auto relock = [&](Segment &segment) {
    segment.locked = LockSegment(segment.base, g_geometry.segment_bytes);
    if (segment.locked)
      locked += g_geometry.segment_bytes;
    else
      Count(g_counters.mlock_failures);
  };
  for (size_t s = 0; s < g_directory->count; ++s) relock(g_directory->segments[s]);
  if (g_overflow_segment.base != nullptr) relock(g_overflow_segment);
  g_counters.locked_bytes.store(locked, std::memory_order_relaxed);
  g_counters.slices_in_use.store(0, std::memory_order_relaxed);
}

void DirectoryLockForFork() {
  g_grow_mutex.lock();
}
void DirectoryUnlockAfterFork() {
  g_grow_mutex.unlock();
}

}  // namespace grndpool
