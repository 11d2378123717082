// SPDX-License-Identifier: Apache-2.0
#include "lib/hot_slices.h"

#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/slab_segment.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;
// Mapped hot slices, in mapping order: slots are written once, before the
// release store of g_count that publishes them, and never change, so readers
// need no RCU. Mapped with the first slice (max_hot_slices slots), as are the
// claim words (wiped in a child after fork).
SliceHeader **g_slices = nullptr;
std::atomic<uint32_t> *g_claims = nullptr;
// Parked slots (ParkHotSlice): mapped, unlocked, their pages discarded and
// their budget given back for good; their claim word holds kRetiringTag, so
// no thread takes them again. Plain memory, so a child after fork keeps the
// marks (its claim words are wiped) and does not lock them again.
std::atomic<uint8_t> *g_parked = nullptr;
std::atomic<size_t> g_count{0};
// Set when a new hot slice could not be locked: none is mapped after that.
// Those already mapped (and locked) are still handed out.
std::atomic<bool> g_no_more{false};
// Slices below this index are not handed out (raw-clone child).
std::atomic<size_t> g_quarantine_below{0};
fork::ForkSafeMutex g_map_mutex;  // serialises mapping new hot slices
// Hot slices parked so far, and FailedClaims() when the last one gave its
// budget back (ParkWanted).
std::atomic<uint64_t> g_parks{0};
std::atomic<uint64_t> g_failed_at_park{0};

size_t SliceBytes() {
  return g_process->geometry.hot_slice_bytes;
}
size_t MaxSlices() {
  return g_process->geometry.max_hot_slices;
}

Claim ClaimOf(size_t i) {
  return Claim{g_slices[i], &g_claims[i], g_process->geometry.hot_capacity};
}

Claim TryClaim(uint32_t tag) {
  const size_t count = g_count.load(std::memory_order_acquire);
  for (size_t i = g_quarantine_below.load(std::memory_order_relaxed); i < count; ++i) {
    const Claim claim = ClaimOf(i);
    uint32_t expected = 0;
    if (claim.word->load(std::memory_order_relaxed) == 0 &&
        g_parked[i].load(std::memory_order_relaxed) == 0 &&
        claim.word->compare_exchange_strong(expected, tag, std::memory_order_acquire))
      return claim;
  }
  return Claim{};
}

// A slice that cannot be locked is never handed out: its claim word holds a
// tag no thread has, for the life of the process.
void Shelve(size_t i) {
  g_claims[i].store(kRetiringTag, std::memory_order_relaxed);
  g_no_more.store(true, std::memory_order_relaxed);
}

// Whether another hot slice is to be parked for threads that find no slice:
// - when a claim failed since the last park gave its budget back (those
//   threads look again only after another free, so a count of failures
//   judged already paid for would leave them waiting for good), and
// - when claims failed faster than the parks so far could serve at most (a
//   park's budget makes up to hot/min_slice_bytes slices, one of them its
//   owner's), so thousands of threads arriving at once do not wait for a
//   round of retries per park.
// Never once every mapped slot is parked.
bool ParkWanted() {
  const SlabGeometry &g = g_process->geometry;
  const uint64_t parks = g_parks.load(std::memory_order_relaxed);
  const uint64_t failed = FailedClaims();
  const uint64_t serves = g.hot_slice_bytes / g.min_slice_bytes - 1;
  return (failed > g_failed_at_park.load(std::memory_order_relaxed) || parks * serves < failed) &&
         parks < g_count.load(std::memory_order_relaxed);
}

// Parks slot i, retired (wiped, its claim word kRetiringTag), under g_map_mutex:
// marked, unlocked, its pages discarded, its budget given back. (If munlock
// fails the slot stays retired and locked, and its budget spent: never more
// locked than the budget.)
void ParkRetired(size_t i) {
  g_parks.store(g_parks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  g_parked[i].store(1, std::memory_order_relaxed);
  // Taken again once marked: a fork from a signal handler before the mark
  // left a child whose hook found the claim word wiped and the slot unmarked
  // (so locked it again, free); resuming here, the child must not end with a
  // free slot that is unlocked.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_claims[i].store(kRetiringTag, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // Wiped while still locked (in such a child an interrupted refill may have
  // written into it after the hook freed it).
  explicit_bzero(g_slices[i], SliceBytes());
  if (!ParkSegment(g_slices[i], SliceBytes())) return;
  g_counters.slab_bytes.fetch_sub(SliceBytes(), std::memory_order_relaxed);
  // Before the budget goes back: a claim that fails once it is back is one
  // this park did not serve.
  g_failed_at_park.store(FailedClaims(), std::memory_order_relaxed);
  ReturnSlabBudget(SliceBytes());
}

// Maps one more hot slice, owned by `tag`; an empty Claim when none may be mapped.
Claim MapOne(uint32_t tag) {
  const fork::ForkSafeLock lock(g_map_mutex);
  if (!lock) return Claim{};
  if (const Claim claim = TryClaim(tag)) return claim;
  const size_t count = g_count.load(std::memory_order_relaxed);
  if (count >= MaxSlices() || g_no_more.load(std::memory_order_relaxed)) return Claim{};
  // Each array on its own: a raw clone's child (its copy of the mutex reset)
  // can find the first mapped and the second not yet.
  if (g_slices == nullptr)
    g_slices = static_cast<SliceHeader **>(MapPlain(MaxSlices() * sizeof(SliceHeader *)));
  if (g_claims == nullptr)
    g_claims = static_cast<std::atomic<uint32_t> *>(MapWipedPlain(MaxSlices() * sizeof(uint32_t)));
  if (g_parked == nullptr) g_parked = static_cast<std::atomic<uint8_t> *>(MapPlain(MaxSlices()));
  if (g_slices == nullptr || g_claims == nullptr || g_parked == nullptr) {
    g_no_more.store(true, std::memory_order_relaxed);
    return Claim{};
  }
  // Past three quarters of the budget, what is left goes to threads without
  // a slice.
  if (!SlabBudgetPlentiful() || !TakeSlabBudget(SliceBytes())) return Claim{};
  // A hot slice spans pages, so MAP_DROPPABLE is not an option (the stamp
  // could not tell that a later page was dropped); nor is unlocked memory.
  const uint32_t epoch = fork::ChildEpoch();
  const SegmentMapping m = MapSegment(SliceBytes(), false);
  const uint32_t epoch_mapped = fork::ChildEpoch();
  if (m.base == nullptr || !m.locked) {
    UnmapSegment(m, SliceBytes());
    ReturnSlabBudget(SliceBytes());
    if (m.base != nullptr) g_no_more.store(true, std::memory_order_relaxed);
    return Claim{};
  }
  Count(g_counters.slab_bytes, SliceBytes());
  g_slices[count] = static_cast<SliceHeader *>(m.base);
  g_claims[count].store(tag, std::memory_order_relaxed);
  g_count.store(count + 1, std::memory_order_release);
  // (A raw clone's child resets later, with the slice published.)
  if (!fork::RelockIfReset(epoch, epoch_mapped, m.base, SliceBytes())) {
    Shelve(count);
    return Claim{};
  }
  return ClaimOf(count);
}

// The epoch moved: every claimed hot slice's next draw refills.
void StaleEveryClaimed() {
  const size_t count = g_count.load(std::memory_order_acquire);
  for (size_t i = 0; i < count; ++i) MakeStale(g_claims[i], g_slices[i]);
}

// Every hot slice reads as free in the child (its claim word is wiped); locks
// are not inherited, so each is locked again, and one that cannot be is
// shelved. After glibc's fork() the forking thread forgot its slice in an
// atfork handler, so nothing needs holding back; after a raw clone the slices
// mapped before it wait until the forking thread is seen (LiftHotQuarantine).
void ChildAfterFork(bool via_atfork) {
  g_map_mutex.ChildAfterFork(via_atfork);
  const size_t count = g_count.load(std::memory_order_relaxed);
  g_quarantine_below.store(via_atfork ? 0 : count, std::memory_order_relaxed);
  for (size_t i = 0; i < count; ++i) {
    if (g_parked[i].load(std::memory_order_relaxed) != 0) {
      g_claims[i].store(kRetiringTag, std::memory_order_relaxed);  // wiped here
      continue;
    }
    if (LockSegment(g_slices[i], SliceBytes())) {
      Count(g_counters.locked_bytes, SliceBytes());
    } else {
      Count(g_counters.mlock_failures);
      Shelve(i);
    }
  }
  g_counters.hot_slices_in_use.store(0, std::memory_order_relaxed);
}
const fork::Hooks kForkHooks{fork::MutexForkHooks<g_map_mutex>::Prepare,
                             fork::MutexForkHooks<g_map_mutex>::Parent, ChildAfterFork};

}  // namespace

void InitHotSlices(const Process &process) {
  g_process = &process;
  if (MaxSlices() == 0) return;
  fork::RegisterHooks(&kForkHooks);
  OnNewEpoch(StaleEveryClaimed);
}

bool HotSlicesMayGrow() {
  return g_process != nullptr && MaxSlices() != 0 && !g_no_more.load(std::memory_order_relaxed);
}

Claim ClaimHotSlice(uint32_t tag) {
  if (g_process == nullptr || MaxSlices() == 0) return Claim{};
  Claim claim = TryClaim(tag);
  // Checked before the mutex too: past three quarters of the budget every busy
  // thread on a small slice asks here every 8 refills, and would take it to be
  // refused.
  if (!claim && g_count.load(std::memory_order_relaxed) < MaxSlices() &&
      !g_no_more.load(std::memory_order_relaxed) && SlabBudgetPlentiful())
    claim = MapOne(tag);
  if (!claim) return Claim{};
  StampOwner(claim.slice, tag);
  Count(g_counters.slices_in_use);
  Count(g_counters.hot_slices_in_use);
  return claim;
}

void ReleaseHotSlice(const Claim &claim, uint32_t tag) {
  if (RetireSlice(claim, tag)) g_counters.hot_slices_in_use.fetch_sub(1, std::memory_order_relaxed);
}

bool ParkHotSlice(const Claim &claim, uint32_t tag) {
  // Cheap first: is a park wanted at all? (Every hot refill asks.)
  if (!ParkWanted()) return false;
  const fork::ForkSafeLock lock(g_map_mutex);
  const size_t i = static_cast<size_t>(claim.word - g_claims);
  if (!lock || !ParkWanted() || i >= g_count.load(std::memory_order_relaxed)) return false;
  // Retired, so wiped and unservable, but left claimed (kRetiringTag): no
  // thread may take it while its memory goes.
  if (!RetireSlice(claim, tag, kRetiringTag)) return false;
  g_counters.hot_slices_in_use.fetch_sub(1, std::memory_order_relaxed);
  ParkRetired(i);
  return true;
}

// A free slot that is not parked, from `from` on; count when none. Loads only.
size_t FreeUnparked(size_t from, size_t count) {
  for (size_t i = from; i < count; ++i)
    if (g_claims[i].load(std::memory_order_relaxed) == 0 &&
        g_parked[i].load(std::memory_order_relaxed) == 0)
      return i;
  return count;
}

bool ParkFreeHotSlice() {
  if (g_process == nullptr || MaxSlices() == 0 || !ParkWanted()) return false;
  // Loads first: with every hot slot owned or parked (at thousands of threads,
  // the common case) a failed claim takes no lock and writes no claim word.
  const size_t from = g_quarantine_below.load(std::memory_order_relaxed);
  const size_t count = g_count.load(std::memory_order_acquire);
  if (FreeUnparked(from, count) == count) return false;
  const fork::ForkSafeLock lock(g_map_mutex);
  if (!lock || !ParkWanted()) return false;
  for (size_t i = FreeUnparked(from, count); i < count; i = FreeUnparked(i + 1, count)) {
    // Free: nobody draws from it. Taken as kRetiringTag, so no claim races
    // the park.
    uint32_t expected = 0;
    if (g_claims[i].compare_exchange_strong(expected, kRetiringTag, std::memory_order_acquire)) {
      ParkRetired(i);
      return true;
    }
  }
  return false;
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
