// SPDX-License-Identifier: Apache-2.0
#include "lib/slice_directory.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/segment_directory.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/thread_count.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;
// One claim word per slice the budget can hold, in segment order (segment s,
// slice i: s * max_slices_per_segment + i). Mapped at start-up, wiped in a child
// after fork, never droppable: see Claim.
std::atomic<uint32_t> *g_claims = nullptr;
// Each owned segment's slice size, header included, by segment index: set
// before the segment is published, lowered only while every slice of it is
// free (SplitFreeSegment). Kept here, not in the segment array, which a grow
// copies while readers may still hold the old one; not wiped in a child,
// which keeps the layout.
std::atomic<uint32_t> *g_slice_bytes = nullptr;
// Segments whose slices are larger than the smallest: while there are none,
// no claim looks for a segment to split.
std::atomic<size_t> g_splittable{0};
std::atomic<void (*)(size_t)> g_claim_scan_hook{nullptr};   // tests only
std::atomic<void (*)(size_t)> g_split_start_hook{nullptr};  // tests only
// Slices the last split left for grows to make, for the threads it found
// waiting beyond every free slice: while some are owed (and for at most
// kOwedNs), the unmapped budget is theirs, and no hot slice is mapped from
// it (SlabBudgetPlentiful; otherwise busy threads took it for hot slices
// between two claims: 49 of them, and 256-byte slices for the rest). Each
// grow pays back the slices it made; a slice freed clears it. The bound in
// time: the thread count includes threads that never draw, whose slices no
// grow will ever make.
std::atomic<size_t> g_owed{0};
std::atomic<int64_t> g_owed_until_ns{0};
constexpr int64_t kOwedNs = 1'000'000'000;
// Splits under way (counted before the first claim word is taken, uncounted
// after the last is given back): a claim that found no slice meanwhile may
// find one once the split is done (GrowMayHelp).
std::atomic<uint32_t> g_splitting{0};
// SliceFrees() and the threads seen drawing when segments to split were
// last looked for: until a slice is freed or more threads arrive, another
// look would find what that one found, and claims skip it (its lock, its
// scans and its read of the thread count).
std::atomic<uint64_t> g_split_looked_frees{0}, g_split_looked_threads{0};

// Whether a claim should look for segments to split (see above): a slice
// was freed, or the threads seen grew by a sixteenth (at least 16) since.
bool SplitLookDue() {
  if (SliceFrees() != g_split_looked_frees.load(std::memory_order_relaxed)) return true;
  const uint64_t seen = g_counters.threads_seen.load(std::memory_order_relaxed);
  const uint64_t then = g_split_looked_threads.load(std::memory_order_relaxed);
  return seen >= then + std::max<uint64_t>(16, then / 16);
}
// Slab bytes not mapped yet, for owned slices (the directory's and hot ones);
// the overflow segment's share is set aside at start-up.
std::atomic<size_t> g_budget_left{0};
// Segments below this index are not handed out (raw-clone child, see LiftQuarantine).
std::atomic<size_t> g_quarantine_below{0};
// Moves (release) after anything that may let a claim succeed that failed
// before: see SliceFrees(). Starts at 1: 0 means "no failed claim" to callers.
std::atomic<uint64_t> g_frees{1};
std::atomic<uint64_t> g_claim_scans{0};
// Claims that found no slice: hot slices give their budget back once it moves.
std::atomic<uint64_t> g_failed_claims{0};
// Grows between taking their budget and publishing their segment: a claim that
// found no free slice and no budget then waits for the grow instead of
// leaving its thread on the overflow slices with slices about to be free.
std::atomic<uint32_t> g_growing{0};

// Claims inside Grow: the one holding the writers' lock and those queued for
// it, at most kGrowers. A claim that finds them all taken sleeps on g_grown
// instead (SleptOutWaitingForGrow): ForkSafeMutex's waiters sleep at most 1 ms and a
// release wakes them all (fork safety), so at 4096 threads on 2 CPUs two
// thousand claimers queued on the lock woke millions of times a second and
// starved the grow they waited for (runs of 200 s instead of 5).
constexpr uint32_t kGrowers = 2;
std::atomic<uint32_t> g_growers{0};
// Claims in Grow without a grower place, at most one: a claim whose sleep ran
// out with no grower leaving (the places may be counted for threads that will
// never give them back, lost to a longjmp out of a claim) goes to the lock
// if this place is free, and sleeps again otherwise, so a grow held up past
// the bound does not bring every sleeper to the lock.
std::atomic<uint32_t> g_stragglers{0};
// Moves when a claimer leaves Grow (a futex word): what SleptOutWaitingForGrow sleeps on.
std::atomic<uint32_t> g_grown{0};
// Claimers asleep in SleptOutWaitingForGrow.
std::atomic<uint32_t> g_grow_waiters{0};
// A bound on one sleep: a claim that sleeps it out with no grower leaving
// may go to the writers' lock as the straggler (g_stragglers). Tests may
// change it.
std::atomic<long> g_grow_wait_ns{100'000'000};

void NoteFree() {
  g_frees.fetch_add(1, std::memory_order_release);
}

int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1'000'000'000 + now.tv_nsec;
}

// Whether threads a split counted are still owed slices (see g_owed).
bool SlicesOwed() {
  return g_owed.load(std::memory_order_relaxed) != 0 &&
         MonotonicNs() < g_owed_until_ns.load(std::memory_order_relaxed);
}

// Takes `n` from `count`, stopping at 0: a fork from a signal handler inside
// the counted code leaves a child whose hook zeroed (or recounted) the count
// before the decrement runs there.
template <typename T>
void TakeAtMost(std::atomic<T> &count, T n, std::memory_order order) {
  T v = count.load(std::memory_order_relaxed);
  while (v > 0 && !count.compare_exchange_weak(v, v > n ? v - n : 0, order)) {
  }
}
void Uncount(std::atomic<uint32_t> &count) {
  TakeAtMost<uint32_t>(count, 1, std::memory_order_seq_cst);
}

const SlabGeometry &Geometry() {
  return g_process->geometry;
}

// The last segment of the budget is kept for the shared overflow slices.
size_t OwnedSegmentsOf(const SlabGeometry &g) {
  return g.max_segments >= 2 ? g.max_segments - 1 : g.max_segments;
}
size_t OwnedSegmentLimit() {
  return OwnedSegmentsOf(Geometry());
}

// Segment s's slice size (acquire: a claim reads it again after taking a
// claim word, which SplitFreeSegment gave back with release after the store),
// and how many slices it holds.
uint32_t SliceBytesOf(size_t s) {
  return g_slice_bytes[s].load(std::memory_order_acquire);
}
size_t SlicesIn(uint32_t slice_bytes) {
  return Geometry().segment_bytes / slice_bytes;
}

std::atomic<uint32_t> *ClaimWord(size_t s, size_t i) {
  return &g_claims[s * Geometry().max_slices_per_segment + i];
}

SliceHeader *SliceAt(const Segment &segment, size_t i, uint32_t slice_bytes) {
  return reinterpret_cast<SliceHeader *>(segment.base + i * slice_bytes);
}

Claim ClaimAt(const Segment &segment, size_t s, size_t i, uint32_t slice_bytes) {
  return Claim{SliceAt(segment, i, slice_bytes), ClaimWord(s, i),
               static_cast<uint32_t>(slice_bytes - kSliceHeaderBytes)};
}

// By segment index, when the thread count cannot be read (and for the
// capacity promised, LadderSlices): the first two thirds of the owned
// segments hold full-size slices, the rest a quarter of that (at least
// min_slice_bytes); with the reservoir, whose share leaves fewer segments and
// which makes a small slice's refill a copy, three fifths. At 2 MiB beside
// the reservoir: 1168 threads on 1 KiB slices, 4272 slices in all once hot
// slices have given their budget back (ParkHotSlice), instead of 1944 with
// 1 KiB slices throughout.
size_t LadderSliceBytes(const SlabGeometry &g, size_t owned_segments, size_t index) {
  const bool full =
      g.reservoir_bytes != 0 ? index * 5 < owned_segments * 3 : index * 3 < owned_segments * 2;
  if (full) return g.slice_bytes;
  const size_t quarter = g.slice_bytes / 4;
  return quarter > g.min_slice_bytes ? quarter : g.min_slice_bytes;
}

size_t LadderSlices(const SlabGeometry &g) {
  const size_t owned_segments = OwnedSegmentsOf(g);
  size_t slices = 0;
  for (size_t s = 0; s < owned_segments; ++s)
    slices += g.segment_bytes / LadderSliceBytes(g, owned_segments, s);
  return slices;
}

// Of `threads` (the kernel's count), those without a small slice (0 if the
// counts crossed).
size_t ThreadsWithoutASlice(size_t threads) {
  const uint64_t owned = g_counters.slices_in_use.load(std::memory_order_relaxed);
  const uint64_t hot = g_counters.hot_slices_in_use.load(std::memory_order_relaxed);
  const uint64_t small = owned > hot ? owned - hot : 0;
  return threads > small ? threads - small : 0;
}

// The size of the next segment's slices (SliceBytesFor), under the writers'
// lock: from the kernel's thread count, or by index when it cannot be read.
size_t NextSliceBytes(const SlabGeometry &g) {
  const size_t index = SegmentCountForWriter();
  const size_t threads = ProcessThreads();
  if (threads == 0) return LadderSliceBytes(g, OwnedSegmentLimit(), index);
  size_t mapped = 0;
  for (size_t s = 0; s < index; ++s) mapped += SlicesIn(SliceBytesOf(s));
  const size_t waiting = std::max<size_t>(ThreadsWithoutASlice(threads), 1);
  const uint64_t hot = g_counters.hot_slices_in_use.load(std::memory_order_relaxed);
  const size_t left = g_budget_left.load(std::memory_order_relaxed) + hot * g.hot_slice_bytes;
  return SliceBytesFor(g, left, waiting, mapped);
}

Claim TryClaimIn(const SegmentReader &segments, uint32_t tag) {
  for (size_t s = g_quarantine_below.load(std::memory_order_relaxed); s < segments.count();) {
    const uint32_t slice_bytes = SliceBytesOf(s);
    if (void (*hook)(size_t) = g_claim_scan_hook.load(std::memory_order_relaxed)) hook(s);
    bool split = false;
    for (size_t i = 0, n = SlicesIn(slice_bytes); i < n && !split; ++i) {
      std::atomic<uint32_t> *word = ClaimWord(s, i);
      uint32_t expected = 0;
      if (word->load(std::memory_order_relaxed) != 0 ||
          !word->compare_exchange_strong(expected, tag, std::memory_order_acquire))
        continue;
      // The word names slice i of the split it was given back under: one
      // split since the size was read (sizes only shrink, so a changed size
      // is a new split) makes it another slice than the one computed. Give
      // it back and look at the segment again.
      if (SliceBytesOf(s) == slice_bytes) return ClaimAt(segments[s], s, i, slice_bytes);
      word->store(0, std::memory_order_release);
      split = true;
    }
    if (!split) ++s;
  }
  return Claim{};
}

// A free slice's header as a claim must find it: empty, unowned, no key.
void ClearHeader(SliceHeader *slice) {
  explicit_bzero(slice->refill_key, sizeof slice->refill_key);
  slice->Reset();
  slice->owner.store(0, std::memory_order_relaxed);
}

// Splits segment s, whose slices are all free, into slices of `to` bytes:
// every claim word of the old split is taken first (kRetiringTag, so no
// claim gets one meanwhile and a claim that took one makes the split give
// up), then the new headers are reset, then the size is lowered, then the
// words are given back. The new headers lie in slices RetireSlice wiped (or
// never used), but a fork child may hold what a refill cut by the fork left
// there. A reader that read the old size finds headers at multiples of it,
// which are headers of the new split too (sizes are powers of two), and a
// stale claim is caught by the size check in TryClaimIn. Under the writers'
// lock.
bool SplitFreeSegment(size_t s, uint32_t from, uint32_t to) {
  if (void (*hook)(size_t) = g_split_start_hook.load(std::memory_order_relaxed)) hook(s);
  const size_t old_n = SlicesIn(from);
  size_t taken = 0;
  for (; taken < old_n; ++taken) {
    uint32_t expected = 0;
    if (!ClaimWord(s, taken)->compare_exchange_strong(expected, kRetiringTag,
                                                      std::memory_order_acq_rel))
      break;
  }
  if (taken == old_n) {
    // No claim can reach a new header yet: the old words are held and the
    // new size is not out.
    for (size_t i = 0, n = SlicesIn(to); i < n; ++i)
      ClearHeader(SliceAt(SegmentForWriter(s), i, to));
    g_slice_bytes[s].store(to, std::memory_order_release);
  }
  for (size_t i = 0; i < taken; ++i) ClaimWord(s, i)->store(0, std::memory_order_release);
  if (taken != old_n) return false;
  if (to == Geometry().min_slice_bytes)
    TakeAtMost<size_t>(g_splittable, 1, std::memory_order_relaxed);
  Count(g_counters.slices_split);
  return true;
}

// How many slices of segment s are free.
size_t FreeSlicesIn(size_t s, uint32_t slice_bytes) {
  size_t free = 0;
  for (size_t i = 0, n = SlicesIn(slice_bytes); i < n; ++i)
    free += ClaimWord(s, i)->load(std::memory_order_relaxed) == 0;
  return free;
}

// A segment left wholly free by threads that exited keeps the size its
// slices were given for fewer threads (the 1 KiB slices of a 1024-thread
// crowd hold half the budget when 4096 threads arrive). Sizes such segments
// again as Grow would size them now, smaller only, as if they were
// unmapped budget: from the threads waiting (less the free slices of the
// other segments) and what the budget holds beyond the slices kept. Under
// the writers' lock; reads the thread count only when a segment could be
// split.
void SplitFreeSegments() {
  const SlabGeometry &g = Geometry();
  const uint64_t frees = SliceFrees();
  const uint64_t seen = g_counters.threads_seen.load(std::memory_order_relaxed);
  const size_t first = g_quarantine_below.load(std::memory_order_relaxed);
  const size_t count = SegmentCountForWriter();
  size_t candidates = 0, free_elsewhere = 0, kept = 0;
  for (size_t s = first; s < count; ++s) {
    const uint32_t bytes = SliceBytesOf(s);
    const size_t free = FreeSlicesIn(s, bytes);
    if (bytes > g.min_slice_bytes && free == SlicesIn(bytes)) {
      ++candidates;
      continue;
    }
    kept += SlicesIn(bytes);
    free_elsewhere += free;
  }
  // Nothing new to look at until a slice is freed or threads arrive (a split
  // frees too: its segments are looked at again for the next size down).
  g_split_looked_frees.store(frees, std::memory_order_relaxed);
  g_split_looked_threads.store(seen, std::memory_order_relaxed);
  if (candidates == 0) return;
  const size_t threads = ProcessThreads();
  if (threads == 0) return;
  size_t waiting = ThreadsWithoutASlice(threads);
  waiting = waiting > free_elsewhere ? waiting - free_elsewhere : 0;
  if (waiting == 0) return;
  // What the owned budget holds beyond the small slices kept: unmapped, in
  // hot slices (in use or not: they give it back when claims fail), and in
  // the segments to be sized.
  size_t left = (OwnedSegmentLimit() - count + candidates) * g.segment_bytes;
  bool split = false;
  for (size_t s = first; s < count && waiting > 0; ++s) {
    const uint32_t bytes = SliceBytesOf(s);
    if (bytes <= g.min_slice_bytes || FreeSlicesIn(s, bytes) != SlicesIn(bytes)) continue;
    left = left >= g.segment_bytes ? left - g.segment_bytes : 0;
    const auto to = static_cast<uint32_t>(SliceBytesFor(g, left, waiting, kept));
    const uint32_t now = to < bytes && SplitFreeSegment(s, bytes, to) ? to : bytes;
    split |= now != bytes;
    const size_t here = SlicesIn(now);
    kept += here;
    waiting = waiting > here ? waiting - here : 0;
  }
  if (!split) return;
  g_owed_until_ns.store(MonotonicNs() + kOwedNs, std::memory_order_relaxed);
  g_owed.store(waiting, std::memory_order_relaxed);
  NoteFree();
}

// Maps one more segment and publishes it; returns a slice of it already owned by
// `tag` (`*made`: the segment's slices), or a slice another grow published
// meanwhile (`*made` 0), or an empty Claim when the budget is spent.
Claim Grow(uint32_t tag, uint32_t *made) {
  const SlabGeometry &g = Geometry();
  const fork::ForkSafeLock lock(SegmentWriters());
  if (!lock) return Claim{};  // a fork is under way: overflow or kernel meanwhile
  // Another thread may have grown it, or a thread may have exited, meanwhile.
  {
    SegmentReader segments;
    if (const Claim mine = TryClaimIn(segments, tag)) return mine;
  }
  // Counted before the budget is taken and until the segment is published
  // (or given up): see GrowMayHelp.
  g_growing.fetch_add(1, std::memory_order_seq_cst);
  struct Grown {
    ~Grown() { Uncount(g_growing); }
  } grown;
  if (!TakeSlabBudget(g.segment_bytes)) return Claim{};
  const size_t slice_bytes = NextSliceBytes(g);
  // Droppable pages are only safe where a slice cannot span two pages: the
  // stamp is then in the page of every byte it guards.
  const bool droppable_ok = slice_bytes <= PageBytes();
  const uint32_t epoch = fork::ChildEpoch();
  const SegmentMapping m = MapSegment(g.segment_bytes, droppable_ok);
  const uint32_t epoch_mapped = fork::ChildEpoch();
  if (m.base == nullptr) {
    ReturnSlabBudget(g.segment_bytes);
    return Claim{};
  }
  const Segment segment{static_cast<uint8_t *>(m.base), m.locked, m.droppable};
  // Not visible to other claimers until the segment is published. The budget
  // keeps the index within the claim words; checked, not assumed.
  const size_t index = SegmentCountForWriter();
  const Claim mine = index < OwnedSegmentLimit()
                         ? ClaimAt(segment, index, 0, static_cast<uint32_t>(slice_bytes))
                         : Claim{};
  if (mine) {
    g_slice_bytes[index].store(static_cast<uint32_t>(slice_bytes), std::memory_order_relaxed);
    mine.word->store(tag, std::memory_order_relaxed);
  }
  if (!mine || !AppendSegment(segment)) {
    // No room for it in the directory: the budget goes back (and announces
    // itself, so failed claims look again), the mapping with it.
    if (mine) mine.word->store(0, std::memory_order_relaxed);
    UnmapSegment(m, g.segment_bytes);
    ReturnSlabBudget(g.segment_bytes);
    return Claim{};
  }
  Count(g_counters.slab_bytes, g.segment_bytes);
  if (slice_bytes > g.min_slice_bytes) g_splittable.fetch_add(1, std::memory_order_relaxed);
  *made = static_cast<uint32_t>(SlicesIn(static_cast<uint32_t>(slice_bytes)));
  if (m.locked && !fork::RelockIfReset(epoch, epoch_mapped, m.base, g.segment_bytes))
    SegmentForWriter(index).locked = false;
  return mine;
}

// The epoch moved: every claimed slice's next draw refills.
void StaleEveryClaimed() {
  SegmentReader segments;
  for (size_t s = 0; s < segments.count();) {
    const uint32_t slice_bytes = SliceBytesOf(s);
    for (size_t i = 0, n = SlicesIn(slice_bytes); i < n; ++i) {
      const Claim claim = ClaimAt(segments[s], s, i, slice_bytes);
      MakeStale(*claim.word, claim.slice);
    }
    // Split meanwhile: its slices claimed since may hold the old epoch's bytes.
    if (SliceBytesOf(s) == slice_bytes) ++s;
  }
}

// In a child: locks every segment again (locks are not inherited) and counts it.
void RelockAfterFork() {
  const size_t bytes = Geometry().segment_bytes;
  for (size_t s = 0; s < SegmentCountForWriter(); ++s) {
    Segment &segment = SegmentForWriter(s);
    if (segment.base == nullptr || segment.droppable) continue;
    segment.locked = LockSegment(segment.base, bytes);
    CountLock(segment.locked, bytes);
  }
  // Counted again: a raw clone may have cut a grow or a split between the
  // size and the count.
  size_t splittable = 0;
  for (size_t s = 0; s < SegmentCountForWriter(); ++s)
    splittable += SliceBytesOf(s) > Geometry().min_slice_bytes;
  g_splittable.store(splittable, std::memory_order_relaxed);
  g_counters.slices_in_use.store(0, std::memory_order_relaxed);
}

void NoForkLocks() {}
void ChildAfterFork(bool via_atfork) {
  // glibc's fork(): the forking thread forgot its slice in an atfork handler,
  // so every slice is free. A raw clone: see LiftQuarantine.
  g_quarantine_below.store(via_atfork ? 0 : SegmentCountForWriter(), std::memory_order_relaxed);
  // A raw clone may cut a grow, or a claimer's sleep: none runs here.
  g_growing.store(0, std::memory_order_relaxed);
  g_growers.store(0, std::memory_order_relaxed);
  g_stragglers.store(0, std::memory_order_relaxed);
  g_grow_waiters.store(0, std::memory_order_relaxed);
  g_owed.store(0, std::memory_order_relaxed);  // the parent's waiting threads are not here
  g_splitting.store(0, std::memory_order_relaxed);
  RelockAfterFork();
  NoteFree();  // every claim word reads free in the child
}
const fork::Hooks kForkHooks{NoForkLocks, NoForkLocks, ChildAfterFork};

}  // namespace

SlabGeometry ComputeGeometry(const Options &options, size_t reservoir_bytes) {
  const size_t page = PageBytes();
  SlabGeometry g{};
  g.reservoir_bytes = reservoir_bytes <= options.slab_bytes / 8 ? reservoir_bytes : 0;
  const size_t budget = options.slab_bytes - g.reservoir_bytes;
  g.slice_bytes = options.slice_bytes;
  g.capacity = static_cast<uint32_t>(g.slice_bytes - kSliceHeaderBytes);
  g.segment_bytes = g.slice_bytes > page ? g.slice_bytes : page;
  g.max_segments = budget / g.segment_bytes;
  if (g.max_segments == 0) g.max_segments = 1;
  g.slices_per_segment = g.segment_bytes / g.slice_bytes;
  g.min_slice_bytes = g.slice_bytes / 4 > kMinSliceBytes ? g.slice_bytes / 4 : kMinSliceBytes;
  if (g.min_slice_bytes > g.slice_bytes) g.min_slice_bytes = g.slice_bytes;
  g.max_slices_per_segment = g.segment_bytes / g.min_slice_bytes;
  g.max_owned_slices = OwnedSegmentsOf(g) * (g.segment_bytes / g.min_slice_bytes);
  g.promised_slices = LadderSlices(g);
  // Hot slices: at most half the budget (given back when threads find no
  // slice, ParkHotSlice), each charged the whole pages it maps and locks (a
  // 16 KiB one takes a 64 KiB page on a 64 KiB-page kernel); on only if the
  // slab holds four, so one can be mapped while a quarter is left.
  const size_t hot_span = options.hot_slice_bytes > page ? options.hot_slice_bytes : page;
  if (options.hot_slice_bytes > options.slice_bytes && budget >= 4 * hot_span) {
    g.max_hot_slices = budget / 2 / hot_span;
    g.hot_slice_bytes = hot_span;
    g.hot_capacity = static_cast<uint32_t>(options.hot_slice_bytes - kSliceHeaderBytes);
  }
  // No share for a reservoir that no slice refills from (the smallest are
  // too large), or that would turn hot slices off.
  if (g.reservoir_bytes != 0 &&
      (g.min_slice_bytes - kSliceHeaderBytes > kReservoirMaxBytes ||
       (g.hot_slice_bytes == 0 && ComputeGeometry(options).hot_slice_bytes != 0)))
    return ComputeGeometry(options);
  return g;
}

void InitSliceDirectory(const Process &process) {
  g_process = &process;
  g_claims = static_cast<std::atomic<uint32_t> *>(MapWipedPlain(
      OwnedSegmentLimit() * Geometry().max_slices_per_segment * sizeof(std::atomic<uint32_t>)));
  g_slice_bytes = static_cast<std::atomic<uint32_t> *>(
      MapPlain(OwnedSegmentLimit() * sizeof(std::atomic<uint32_t>)));
  // No claim words, no sizes, or no segment array: no owned slices, threads
  // share the overflow slices.
  const bool usable = InitSegmentDirectory() && g_claims != nullptr && g_slice_bytes != nullptr;
  g_budget_left.store(usable ? OwnedSegmentLimit() * Geometry().segment_bytes : 0,
                      std::memory_order_relaxed);
  fork::RegisterHooks(&kForkHooks);
  OnNewEpoch(StaleEveryClaimed);
}

namespace {

// After a scan of `scanned` segments found no free slice (`grown`: g_grown
// read before it): whether taking the writers' lock may find one. With the
// budget spent it cannot, unless a grow that took the last budget has not
// published its segment yet, or published it after the scan, or a split held
// or freed words meanwhile; otherwise overflow threads would all take the
// lock on every retry. (A grow counts itself before its budget is taken, with release, and
// uncounts itself after publishing; so a load of the spent budget that sees
// its take sees it counted, or sees its segment.)
bool GrowMayHelp(size_t scanned, uint32_t grown) {
  if (g_budget_left.load(std::memory_order_acquire) >= Geometry().segment_bytes) return true;
  // A split holds the words of the slices it is cutting, or finished since
  // the scan began (it moves g_grown before it uncounts itself): the
  // writers' lock is where they come free.
  if (g_splitting.load(std::memory_order_seq_cst) != 0 ||
      g_grown.load(std::memory_order_seq_cst) != grown)
    return true;
  if (g_growing.load(std::memory_order_seq_cst) != 0) return true;
  SegmentReader segments;
  return segments.count() != scanned;
}

// One of the `limit` places `taken` counts, if one is free.
bool TakePlace(std::atomic<uint32_t> &taken, uint32_t limit) {
  uint32_t n = taken.load(std::memory_order_seq_cst);
  do {
    if (n >= limit) return false;
  } while (!taken.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst));
  return true;
}

void WakeGrowWaiters(int n) {
  if (g_grow_waiters.load(std::memory_order_seq_cst) != 0)
    syscall(SYS_futex, &g_grown, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

// Sleeps until a claimer leaves Grow (g_grown moves from `seen`, read before
// the scan that found no slice), or for g_grow_wait_ns. A grower that leaves
// after the scan moves g_grown past `seen`, so the sleep then does not begin.
// Returns true when the whole bound passed and no grower left (not for a
// wake, a signal or a moved word); errno is kept (a draw never changes it).
bool SleptOutWaitingForGrow(uint32_t seen) {
  const int saved_errno = errno;
  g_grow_waiters.fetch_add(1, std::memory_order_seq_cst);
  const long ns = g_grow_wait_ns.load(std::memory_order_relaxed);
  const timespec bound{ns / 1'000'000'000, ns % 1'000'000'000};
  const bool timed_out =
      syscall(SYS_futex, &g_grown, FUTEX_WAIT_PRIVATE, seen, &bound, nullptr, 0) != 0 &&
      errno == ETIMEDOUT;
  Uncount(g_grow_waiters);
  errno = saved_errno;
  return timed_out && g_grown.load(std::memory_order_seq_cst) == seen;
}

}  // namespace

size_t SliceBytesFor(const SlabGeometry &g, size_t left, size_t waiting, size_t mapped) {
  size_t bytes = g.slice_bytes;
  for (; bytes > g.min_slice_bytes; bytes /= 2) {
    const size_t here = g.segment_bytes / bytes;
    const size_t others = waiting > here ? waiting - here : 0;
    const size_t owed = g.promised_slices > mapped + here ? g.promised_slices - mapped - here : 0;
    if (left >= others * (bytes / 2) && left >= owed * g.min_slice_bytes) break;
  }
  return bytes;
}

Claim ClaimSlice(uint32_t tag) {
  if (g_claims == nullptr) return Claim{};
  Claim claim;
  // Sleepers to wake once this claim is done, if it takes a slice: one to
  // hand the wake on (a grow's wakes may all have gone to claims that found
  // a slice, leaving nobody to grow next); after a grow, as many as it made
  // slices (one to grow next, the others to claim the rest). A failed claim
  // wakes them all (they fail too, or a fork is under way).
  int wake = 1;
  bool slept_out = false, looked_for_splits = false;
  // A child of a fork (or raw clone) from a signal handler that interrupted
  // this claim finds the counts of threads it lacks: it leaves at once.
  const uint32_t forks = fork::ForkCount();
  for (;;) {
    // Read before the scan: a grow that publishes after it moves it.
    const uint32_t grown = g_grown.load(std::memory_order_seq_cst);
    g_claim_scans.fetch_add(1, std::memory_order_relaxed);
    size_t scanned = 0;
    {
      SegmentReader segments;
      scanned = segments.count();
      claim = TryClaimIn(segments, tag);
    }
    // A slice larger than the smallest: segments left wholly free by
    // threads that exited keep a size given for fewer threads. This one's
    // may be among them, so it is given back (untouched) before they are
    // looked at, and the scan runs again. Once per claim, and only when a
    // grower's place is free: claims never queue for this.
    if (claim && !looked_for_splits &&
        claim.capacity + kSliceHeaderBytes > Geometry().min_slice_bytes &&
        g_splittable.load(std::memory_order_relaxed) != 0 && SplitLookDue()) {
      looked_for_splits = true;
      if (TakePlace(g_growers, kGrowers)) {
        // Counted before the slice goes back: a claim that finds no slice
        // while the split holds the words asks the writers' lock, where the
        // split's slices are (GrowMayHelp).
        g_splitting.fetch_add(1, std::memory_order_seq_cst);
        claim.word->store(0, std::memory_order_release);
        claim = Claim{};
        {
          const fork::ForkSafeLock lock(SegmentWriters());
          if (lock) SplitFreeSegments();
        }
        // As a grow's end: claims asleep for a place look again, and claims
        // that scanned while the split held the words see it moved.
        g_grown.fetch_add(1, std::memory_order_seq_cst);
        Uncount(g_splitting);
        Uncount(g_growers);
        WakeGrowWaiters(1);
        continue;
      }
    }
    if (claim || !GrowMayHelp(scanned, grown)) break;
    std::atomic<uint32_t> *place = nullptr;
    if (TakePlace(g_growers, kGrowers))
      place = &g_growers;
    else if (slept_out && TakePlace(g_stragglers, 1))
      place = &g_stragglers;
    if (place != nullptr) {
      uint32_t made = 0;
      claim = Grow(tag, &made);
      Uncount(*place);
      g_grown.fetch_add(1, std::memory_order_seq_cst);  // after the place is given back
      if (made != 0) {
        wake = static_cast<int>(made);
        TakeAtMost<size_t>(g_owed, made, std::memory_order_relaxed);  // paid back
      }
      break;
    }
    // Every place is taken: sleep until a grower leaves, unless a fork holds
    // the writers' lock (a grow gives up then: overflow meanwhile) or cut
    // this claim.
    if (fork::ForkInProgress() || fork::ForkedSince(forks)) break;
    slept_out = SleptOutWaitingForGrow(grown);
  }
  if (!claim) {
    // Not a failure while a fork holds the directory's lock (Grow gave up
    // rather than wait) or cut the claim: no hot slice is parked for it.
    if (!fork::ForkInProgress() && !fork::ForkedSince(forks))
      g_failed_claims.fetch_add(1, std::memory_order_relaxed);
    WakeGrowWaiters(INT32_MAX);
    return Claim{};
  }
  WakeGrowWaiters(wake);
  StampOwner(claim.slice, tag);
  Count(g_counters.slices_in_use);
  return claim;
}

void RestampSlice(SliceHeader *slice, uint32_t tag) {
  if (slice->owner.load(std::memory_order_relaxed) == 0) {
    Count(g_counters.slices_dropped);  // the kernel dropped the page: nothing is left
  } else {
    // Stale: what is left is thrown away (the refill that follows overwrites it).
    const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
    const uint32_t left = slice->avail > 0 ? static_cast<uint32_t>(slice->avail) : 0;
    Count(g_counters.bytes_served, filled > left ? filled - left : 0);
    Count(g_counters.bytes_discarded, left);
  }
  StampOwner(slice, tag);
}

bool TakeSlabBudget(size_t bytes) {
  size_t left = g_budget_left.load(std::memory_order_relaxed);
  do {
    if (left < bytes) return false;
  } while (!g_budget_left.compare_exchange_weak(left, left - bytes, std::memory_order_acq_rel,
                                                std::memory_order_relaxed));
  return true;
}

void ReturnSlabBudget(size_t bytes) {
  g_budget_left.fetch_add(bytes, std::memory_order_relaxed);
  NoteFree();
}

bool SlabBudgetPlentiful() {
  if (g_process == nullptr) return false;
  return g_budget_left.load(std::memory_order_relaxed) * 4 >=
             OwnedSegmentLimit() * Geometry().segment_bytes &&
         !SlicesOwed();
}

uint64_t FailedClaims() {
  return g_failed_claims.load(std::memory_order_relaxed);
}

uint64_t SliceFrees() {
  return g_frees.load(std::memory_order_acquire);
}

void SetGrowWaitBoundForTesting(long ns) {
  g_grow_wait_ns.store(ns, std::memory_order_relaxed);
}

GrowWaitForTesting GrowWaitNowForTesting() {
  return GrowWaitForTesting{g_growers.load(std::memory_order_seq_cst),
                            g_stragglers.load(std::memory_order_seq_cst),
                            g_grow_waiters.load(std::memory_order_seq_cst)};
}

void SetClaimScanHookForTesting(void (*hook)(size_t segment)) {
  g_claim_scan_hook.store(hook, std::memory_order_relaxed);
}

void SetSplitHookForTesting(void (*hook)(size_t segment)) {
  g_split_start_hook.store(hook, std::memory_order_relaxed);
}

uint64_t ClaimScansForTesting() {
  return g_claim_scans.load(std::memory_order_relaxed);
}

bool RetireSlice(const Claim &claim, uint32_t tag, uint32_t free_as) {
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
  explicit_bzero(slice->data(), claim.capacity);
  ClearHeader(slice);
  claim.word->store(free_as, std::memory_order_release);
  g_counters.slices_in_use.fetch_sub(1, std::memory_order_relaxed);
  if (free_as == 0) {
    g_owed.store(0, std::memory_order_relaxed);
    NoteFree();
  }
  return true;
}

void ReleaseSlice(const Claim &claim, uint32_t tag) {
  RetireSlice(claim, tag);
  FreeOutgrownArrays();
}

bool QuarantineActive() {
  return g_quarantine_below.load(std::memory_order_relaxed) != 0;
}

void LiftQuarantine() {
  if (g_quarantine_below.exchange(0, std::memory_order_relaxed) != 0) NoteFree();
}

uint64_t LiveServedBytes() {
  if (g_process == nullptr) return 0;
  uint64_t served = 0;
  SegmentReader segments;
  for (size_t s = 0; s < segments.count(); ++s) {
    const uint32_t slice_bytes = SliceBytesOf(s);
    for (size_t i = 0, n = SlicesIn(slice_bytes); i < n; ++i)
      served += SliceAt(segments[s], i, slice_bytes)->ServedSinceRefill();
  }
  return served;
}

}  // namespace grndpool
