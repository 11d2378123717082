// SPDX-License-Identifier: Apache-2.0
#include "lib/slice_directory.h"

#include <sched.h>
#include <urcu-bp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "lib/fork.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/tsan.h"

// liburcu-bp's per-thread reader record (exported; its static header reads it
// too): nullptr while the thread is not registered.
extern "C" __thread void *urcu_bp_reader;

namespace grndpool {
namespace {

struct Segment {
  uint8_t *base;
  bool locked;
  bool droppable;
};

// Published under RCU. Segments are appended in place (the slot first, then
// count with a release store), so readers see a consistent prefix; a full array
// is copied into one twice its size, published, and the old one retired.
struct Directory {
  std::atomic<size_t> count;
  size_t capacity;
  Directory *retired;  // outgrown arrays not freed yet (writers only)
  Segment segments[];  // owned-slice segments, oldest first
};

SlabGeometry g_geometry{};
Directory *g_directory = nullptr;  // RCU-protected: read with rcu_dereference
// One claim word per slice the budget can hold, in segment order (segment s,
// slice i: s * slices_per_segment + i). Mapped at start-up, wiped in a child
// after fork, never droppable: see Claim.
std::atomic<uint32_t> *g_claims = nullptr;
fork::ForkSafeMutex g_grow_mutex;  // serialises writers of the directory and the overflow
std::atomic<SharedSliceHeader *> g_overflow{nullptr};
Segment g_overflow_segment{};
// Slab bytes not mapped yet, for owned slices (the directory's and hot ones);
// the overflow segment's share is set aside at start-up.
std::atomic<size_t> g_budget_left{0};
// Segments below this index are not handed out (raw-clone child, see LiftQuarantine).
std::atomic<size_t> g_quarantine_below{0};
// False in any child process. The library calls none of liburcu's fork hooks:
// an application that shares liburcu-bp with it and calls urcu_bp_before_fork()
// itself, as liburcu asks, would deadlock on the second call. So in a child,
// where liburcu's registry may have been copied mid-update by a thread that is
// gone, readers take g_grow_mutex instead and no grace period is waited for.
bool g_rcu_usable = true;
// TSan only: readers release it, a finished grace period acquires it.
[[maybe_unused]] char g_grace_period;
// Readers that cannot use liburcu here (see RcuReaderReady): FreeRetired waits
// for them too.
std::atomic<int> g_plain_readers{0};
thread_local bool t_rcu_seen [[gnu::tls_model("initial-exec")]] = false;

// How a read-side section was entered.
enum class ReadMode : uint8_t { kRcu, kPlain, kChild };

// A read-side critical section over the directory. Takes no lock: a signal
// handler may read (a draw, grndpool_stats()) while its thread holds one.
const Directory *BeginRead(ReadMode *mode) {
  if (!g_rcu_usable) {
    // A child frees no directory array (DetachRetired), so a plain load is safe.
    *mode = ReadMode::kChild;
    return __atomic_load_n(&g_directory, __ATOMIC_ACQUIRE);
  }
  if (!RcuReaderReady()) {
    *mode = ReadMode::kPlain;
    g_plain_readers.fetch_add(1, std::memory_order_seq_cst);
    const Directory *dir = __atomic_load_n(&g_directory, __ATOMIC_SEQ_CST);
    GRNDPOOL_TSAN_ACQUIRE(dir);
    return dir;
  }
  *mode = ReadMode::kRcu;
  rcu_read_lock();
  const Directory *dir = rcu_dereference(g_directory);
  GRNDPOOL_TSAN_ACQUIRE(dir);
  return dir;
}
void EndRead(ReadMode mode) {
  switch (mode) {
    case ReadMode::kChild:
      return;
    case ReadMode::kPlain:
      GRNDPOOL_TSAN_RELEASE(&g_grace_period);
      g_plain_readers.fetch_sub(1, std::memory_order_seq_cst);
      return;
    case ReadMode::kRcu:
      GRNDPOOL_TSAN_RELEASE(&g_grace_period);
      rcu_read_unlock();
      return;
  }
}

size_t OwnedSegmentLimit() {
  // The last segment of the budget is kept for the shared overflow slices.
  return g_geometry.max_segments >= 2 ? g_geometry.max_segments - 1 : g_geometry.max_segments;
}

bool BudgetHolds(size_t bytes) {
  return g_budget_left.load(std::memory_order_relaxed) >= bytes;
}

SliceHeader *SliceAt(const Segment &segment, size_t index) {
  return reinterpret_cast<SliceHeader *>(segment.base + index * g_geometry.slice_bytes);
}

Claim ClaimAt(const Segment &segment, size_t s, size_t i) {
  return Claim{SliceAt(segment, i), &g_claims[s * g_geometry.slices_per_segment + i]};
}

Claim TryClaimIn(const Directory *dir, uint32_t tag) {
  const size_t count = dir->count.load(std::memory_order_acquire);
  for (size_t s = g_quarantine_below.load(std::memory_order_relaxed); s < count; ++s) {
    for (size_t i = 0; i < g_geometry.slices_per_segment; ++i) {
      const Claim claim = ClaimAt(dir->segments[s], s, i);
      uint32_t expected = 0;
      if (claim.word->load(std::memory_order_relaxed) == 0 &&
          claim.word->compare_exchange_strong(expected, tag, std::memory_order_acquire))
        return claim;
    }
  }
  return Claim{};
}

size_t DirectoryBytes(size_t capacity) {
  return sizeof(Directory) + capacity * sizeof(Segment);
}

// Zeroed, from mmap (see MapPlain).
Directory *NewDirectory(size_t capacity) {
  auto *dir = static_cast<Directory *>(MapPlain(DirectoryBytes(capacity)));
  if (dir != nullptr) dir->capacity = capacity;
  return dir;
}

// Takes the retired arrays off the directory, or nullptr when they must wait
// (in a child). Called with g_grow_mutex held, so it calls nothing of liburcu's:
// its calls may take liburcu's locks (registering the thread, for one), and an
// application calling urcu_bp_before_fork() takes those before our fork hook
// takes g_grow_mutex.
Directory *DetachRetired() {
  Directory *dir = g_directory;
  if (dir->retired == nullptr || !g_rcu_usable) return nullptr;
  Directory *list = dir->retired;
  dir->retired = nullptr;
  return list;
}

// Frees detached arrays after a grace period. Only at thread exit, never in a
// draw: a grace period waits for every reader, the application's too when it
// shares liburcu with us. And with no lock of ours held: an application that
// calls urcu_bp_before_fork() holds liburcu's lock while our fork hook waits
// for g_grow_mutex, so waiting for liburcu under it could deadlock.
void FreeRetired(Directory *list) {
  if (list == nullptr) return;
  synchronize_rcu();
  while (g_plain_readers.load(std::memory_order_seq_cst) != 0) sched_yield();
  GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  while (list != nullptr) {
    Directory *next = list->retired;
    UnmapPlain(list, DirectoryBytes(list->capacity));
    list = next;
  }
}

// Adds a mapped segment to the directory; false when no memory is left for a
// bigger array. Called with g_grow_mutex held.
bool Append(const Segment &segment) {
  Directory *dir = g_directory;
  const size_t count = dir->count.load(std::memory_order_relaxed);
  if (count == dir->capacity) {
    Directory *bigger = NewDirectory(dir->capacity * 2);
    if (bigger == nullptr) return false;
    memcpy(bigger->segments, dir->segments, count * sizeof(Segment));
    bigger->count.store(count, std::memory_order_relaxed);
    bigger->retired = dir;  // dir->retired chains the older ones
    GRNDPOOL_TSAN_RELEASE(bigger);
    rcu_set_pointer(&g_directory, bigger);
    dir = bigger;
  }
  dir->segments[count] = segment;
  GRNDPOOL_TSAN_RELEASE(dir);
  dir->count.store(count + 1, std::memory_order_release);
  return true;
}

// Maps one more segment and publishes it; returns a slice of it already owned by
// `tag`, or an empty Claim when the budget is spent.
Claim Grow(uint32_t tag) {
  std::lock_guard<fork::ForkSafeMutex> lock(g_grow_mutex);
  // Another thread may have grown it, or a thread may have exited, meanwhile.
  Claim mine = TryClaimIn(g_directory, tag);
  if (mine) return mine;
  if (!TakeSlabBudget(g_geometry.segment_bytes)) return Claim{};
  // Droppable pages are only safe where a slice cannot span two pages: the
  // stamp is then in the page of every byte it guards.
  const bool droppable_ok = g_geometry.slice_bytes <= PageBytes();
  const uint32_t epoch = fork::ChildEpoch();
  SegmentMapping m = MapSegment(g_geometry.segment_bytes, droppable_ok);
  const uint32_t epoch_mapped = fork::ChildEpoch();
  if (m.base == nullptr) {
    ReturnSlabBudget(g_geometry.segment_bytes);
    return Claim{};
  }
  Count(g_counters.slab_bytes, g_geometry.segment_bytes);
  Segment segment{static_cast<uint8_t *>(m.base), m.locked, m.droppable};
  // Not visible to other claimers until Append publishes the segment.
  mine = ClaimAt(segment, g_directory->count.load(std::memory_order_relaxed), 0);
  mine.word->store(tag, std::memory_order_relaxed);
  if (!Append(segment)) {
    mine.word->store(0, std::memory_order_relaxed);
    return Claim{};  // the mapping stays unused: harmless, rare
  }
  if (m.locked && !fork::RelockIfReset(epoch, epoch_mapped, m.base, g_geometry.segment_bytes))
    g_directory->segments[g_directory->count.load(std::memory_order_relaxed) - 1].locked = false;
  return mine;
}

// In a child: locks every segment again (locks are not inherited) and recounts.
void RelockAfterFork() {
  uint64_t locked = 0;
  auto relock = [&](Segment &segment) {
    if (segment.base == nullptr || segment.droppable) return;
    segment.locked = LockSegment(segment.base, g_geometry.segment_bytes);
    if (segment.locked)
      locked += g_geometry.segment_bytes;
    else
      Count(g_counters.mlock_failures);
  };
  const size_t count = g_directory->count.load(std::memory_order_relaxed);
  for (size_t s = 0; s < count; ++s) relock(g_directory->segments[s]);
  relock(g_overflow_segment);
  g_counters.locked_bytes.store(locked, std::memory_order_relaxed);
  g_counters.slices_in_use.store(0, std::memory_order_relaxed);
}

// Holding the writers' lock across fork() also means no grace period of ours
// is in progress in the child.
void PrepareFork() {
  g_grow_mutex.PrepareFork();
}
void ParentAfterFork() {
  g_grow_mutex.ParentAfterFork();
}
void ChildAfterFork(bool via_atfork) {
  g_rcu_usable = false;
  // glibc's fork(): the forking thread forgot its slice in an atfork handler,
  // so every slice is free. A raw clone: see LiftQuarantine.
  g_quarantine_below.store(via_atfork ? 0 : g_directory->count.load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
  g_grow_mutex.ChildAfterFork(via_atfork);
  RelockAfterFork();
}
const fork::Hooks kForkHooks{PrepareFork, ParentAfterFork, ChildAfterFork};

}  // namespace

bool RcuReaderReady() {
  if (urcu_bp_reader != nullptr) {
    t_rcu_seen = true;
    return true;
  }
  // Registered before and not any more: liburcu's thread-exit destructor ran,
  // or is running. Its last step takes a lock of liburcu's with signals
  // unblocked, so a signal handler drawing there must not register again.
  if (t_rcu_seen) return false;
  t_rcu_seen = true;
  return true;  // the first read-side section registers the thread
}

SlabGeometry ComputeGeometry(size_t slab_bytes, size_t slice_bytes) {
  const size_t page = PageBytes();
  SlabGeometry g{};
  g.slice_bytes = slice_bytes;
  g.capacity = static_cast<uint32_t>(slice_bytes - kSliceHeaderBytes);
  g.segment_bytes = slice_bytes > page ? slice_bytes : page;
  g.max_segments = slab_bytes / g.segment_bytes;
  if (g.max_segments == 0) g.max_segments = 1;
  g.slices_per_segment = g.segment_bytes / slice_bytes;
  return g;
}

void InitSliceDirectory(const SlabGeometry &geometry) {
  g_geometry = geometry;
  g_claims = static_cast<std::atomic<uint32_t> *>(MapWipedPlain(
      OwnedSegmentLimit() * geometry.slices_per_segment * sizeof(std::atomic<uint32_t>)));
  // No claim words, no owned slices: threads share the overflow slices.
  g_budget_left.store(g_claims != nullptr ? OwnedSegmentLimit() * geometry.segment_bytes : 0,
                      std::memory_order_relaxed);
  g_directory = NewDirectory(8);
  fork::RegisterHooks(&kForkHooks);
}

const SlabGeometry &Geometry() {
  return g_geometry;
}

Claim ClaimSlice(uint32_t tag) {
  if (g_directory == nullptr || g_claims == nullptr) return Claim{};
  ReadMode mode;
  const Directory *dir = BeginRead(&mode);
  Claim claim = TryClaimIn(dir, tag);
  // With the budget spent, growing is pointless: skip the writers' lock, which
  // overflow threads would otherwise all take on every retry.
  const bool may_grow = BudgetHolds(g_geometry.segment_bytes);
  EndRead(mode);
  if (!claim && may_grow) claim = Grow(tag);
  if (!claim) return Claim{};
  claim.slice->Reset();
  claim.slice->owner.store(tag, std::memory_order_relaxed);
  Count(g_counters.slices_in_use);
  return claim;
}

void RestampDroppedSlice(SliceHeader *slice, uint32_t tag) {
  slice->Reset();
  slice->owner.store(tag, std::memory_order_relaxed);
  Count(g_counters.slices_dropped);
}

bool TakeSlabBudget(size_t bytes) {
  size_t left = g_budget_left.load(std::memory_order_relaxed);
  do {
    if (left < bytes) return false;
  } while (!g_budget_left.compare_exchange_weak(left, left - bytes, std::memory_order_relaxed));
  return true;
}

void ReturnSlabBudget(size_t bytes) {
  g_budget_left.fetch_add(bytes, std::memory_order_relaxed);
}

bool RetireSlice(const Claim &claim, uint32_t capacity, uint32_t tag) {
  SliceHeader *slice = claim.slice;
  uint32_t expected = tag;
  if (!claim ||
      !claim.word->compare_exchange_strong(expected, kRetiringTag, std::memory_order_acquire))
    return false;
  const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
  const int32_t left = slice->avail > 0 ? slice->avail : 0;
  Count(g_counters.bytes_served, filled > static_cast<uint32_t>(left) ? filled - left : 0);
  Count(g_counters.bytes_discarded, static_cast<uint64_t>(left));
  // Unservable first, then wiped, then free for the next thread.
  std::atomic_ref<int32_t>(slice->avail).store(0, std::memory_order_relaxed);
  explicit_bzero(slice->data(), capacity);
  explicit_bzero(slice->refill_key, sizeof slice->refill_key);
  slice->Reset();
  slice->owner.store(0, std::memory_order_relaxed);
  claim.word->store(0, std::memory_order_release);  // the stamp too, where it is the claim
  g_counters.slices_in_use.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void ReleaseSlice(const Claim &claim, uint32_t tag) {
  RetireSlice(claim, g_geometry.capacity, tag);
  // Not from inside a read-side section: the grace period would wait for itself.
  if (g_rcu_usable && RcuReaderReady() && !rcu_read_ongoing() && g_grow_mutex.try_lock()) {
    Directory *retired = DetachRetired();
    g_grow_mutex.unlock();
    FreeRetired(retired);
  }
}

bool QuarantineActive() {
  return g_quarantine_below.load(std::memory_order_relaxed) != 0;
}

void LiftQuarantine() {
  g_quarantine_below.store(0, std::memory_order_relaxed);
}

SharedSliceHeader *OverflowSlices(size_t *count) {
  *count = g_geometry.slices_per_segment;
  SharedSliceHeader *slices = g_overflow.load(std::memory_order_acquire);
  if (slices != nullptr || g_geometry.max_segments < 2) return slices;
  std::lock_guard<fork::ForkSafeMutex> lock(g_grow_mutex);
  slices = g_overflow.load(std::memory_order_relaxed);
  if (slices == nullptr) {
    // Shared slices are not owned, so a dropped page could not be noticed.
    SegmentMapping m = MapSegment(g_geometry.segment_bytes, false);
    if (m.base == nullptr) return nullptr;
    Count(g_counters.slab_bytes, g_geometry.segment_bytes);
    g_overflow_segment = Segment{static_cast<uint8_t *>(m.base), m.locked, false};
    slices = static_cast<SharedSliceHeader *>(m.base);
    g_overflow.store(slices, std::memory_order_release);
  }
  return slices;
}

uint64_t LiveServedBytes() {
  if (g_directory == nullptr) return 0;
  uint64_t served = 0;
  ReadMode mode;
  const Directory *dir = BeginRead(&mode);
  const size_t count = dir->count.load(std::memory_order_acquire);
  for (size_t s = 0; s < count; ++s) {
    for (size_t i = 0; i < g_geometry.slices_per_segment; ++i)
      served += SliceAt(dir->segments[s], i)->ServedSinceRefill();
  }
  EndRead(mode);
  return served;
}

}  // namespace grndpool
