// SPDX-License-Identifier: Apache-2.0
#include "lib/thread_slice.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "lib/fork.h"
#include "lib/hot_slices.h"
#include "lib/runtime.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;

constexpr uint32_t kClaimRetryInterval = 256;  // overflow threads' slow draws between claims

// Every this many refills of a small slice the thread looks at the clock; if
// they took less than kHotWindowNs it moves to a hot slice (at 1 KiB slices:
// 8 KiB in 10 ms, 800 KB/s). The coarse clock is a vDSO read, no syscall.
constexpr uint32_t kHotRefills = 8;
constexpr uint64_t kHotWindowNs = 10'000'000;

// A thread that had not drawn when it forked by raw clone: it is the child's
// first thread. Asked only while slices are held back for it.
bool IsRawCloneForker() {
  return (QuarantineActive() || HotQuarantineActive()) && gettid() == getpid();
}

bool RefillsOften(ThreadState &t) {
  if (++t.refills % kHotRefills != 0) return false;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + ts.tv_nsec;
  const bool often = t.refill_clock != 0 && now - t.refill_clock < kHotWindowNs;
  t.refill_clock = now;
  return often;
}

// Makes `claim` the thread's slice if `tag` still holds it: a fork from a
// signal handler during the claim ran the child's hook (which forgot the
// slice) before this store, and in the child the claim word reads free (it
// is wiped on fork), so a second thread there could claim the slice and
// serve from it too. Checked after the store: a fork after the check runs
// the hook, which forgets it. Returns whether the thread has the slice.
bool KeepIfHeld(ThreadState &t, const Claim &claim, bool hot, uint32_t tag) {
  t.owned = claim;
  t.hot = hot && static_cast<bool>(claim);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (!claim || claim.HeldBy(tag)) return static_cast<bool>(claim);
  ForgetSlice(t);
  return false;
}

// A thread that refills its small slice often trades it for a hot slice (the
// small one is wiped and freed for others).
void MaybeGoHot(ThreadState &t) {
  if (t.hot || !RefillsOften(t)) return;
  const uint32_t tag = FastBlock().grndpool_tag;
  // Kept here: a fork inside the claim (from a signal handler, or in the
  // mapping's mlock) makes the child forget t.owned; retiring the copy then
  // finds it no longer claimed and leaves it alone.
  const Claim small = t.owned;
  const Claim hot = ClaimHotSlice(tag);
  if (!hot) return;
  // The fast path and the lane leave the small slice first: a draw too large
  // for the hot slice serves from neither, and would leave them pointing at
  // a slice another thread may claim and fill.
  ServeNothing();
  RetireSlice(small, tag);
  KeepIfHeld(t, hot, true, tag);
}

// A hot slice's owner, at a refill, when threads found no slice (and no other
// hot slice was parked for them yet): parks the hot slice, so its budget goes
// to small slices (the caller then claims one for this thread). True when it
// did.
bool GaveHotSliceBack(ThreadState &t) {
  if (!t.hot || !ParkHotSlice(t.owned, FastBlock().grndpool_tag)) return false;
  t.owned = Claim{};
  return true;
}

// Gives back `owned` (a hot slice if `hot`), which `tag` owned, if there is
// one: a hot slice is freed, or, with `park_if_wanted` (thread exit), parked
// when threads found no slice, so its budget goes to them; a small slice is
// freed. Called with grndpool_in_draw set.
void GiveSliceBack(const Claim &owned, bool hot, uint32_t tag, bool park_if_wanted) {
  if (!owned) return;
  if (hot && !(park_if_wanted && ParkHotSlice(owned, tag)))
    ReleaseHotSlice(owned, tag);
  else  // also once parked: the retire finds the claim gone; outgrown arrays are freed
    ReleaseSlice(owned, tag);
}

// glibc's fork() runs this in the forking thread of the child: its slice went
// with the wiped slab. (A raw-clone child finds out in SetUpThread instead.)
void NoForkLocks() {}
// A thread of a child (the one that forked): no slice, and every slice free
// to claim. (Its tally of counts starts from zero with the counters:
// ResetCountersInChild.)
void ResetInChild(ThreadState &t) {
  ForgetSlice(t);
  t.claim_backoff = 0;
  t.claim_frees = 0;
  t.reservoir = ReservoirWindow{};
}

void ForgetSliceInChild(bool via_atfork) {
  if (!via_atfork) return;
  ThreadState &t = ThisThread();
  ResetInChild(t);
  if (t.child_epoch != 0) t.child_epoch = fork::ChildEpoch();
}
const fork::Hooks kForkHooks{NoForkLocks, NoForkLocks, ForgetSliceInChild};

}  // namespace

void InitThreadSlices(const Process &process) {
  g_process = &process;
  fork::RegisterHooks(&kForkHooks);
}

void ForgetSlice(ThreadState &t) {
  ServeNothing();
  // What the lean grant did not spend goes back where it was charged (a byte
  // draw, which never spends it, or a claim keeps the window exact), if it is
  // this process's: a child drops its parent's. Bounded, as a handler that
  // forks meanwhile leaves the child's reset window and back-off under it.
  const uint64_t lean = LoadLean(t);
  StoreLean(t, 0);
  const uint32_t back = LeanBytes(lean);
  if (back != 0 && g_process != nullptr && LeanForks(lean) == fork::ForkCount()) {
    const uint32_t span =
        static_cast<uint32_t>(g_process->geometry.min_slice_bytes - kSliceHeaderBytes);
    const uint64_t unread = t.reservoir.unread, backoff = t.claim_backoff;
    t.reservoir.unread = static_cast<uint32_t>(std::min<uint64_t>(unread + back, span));
    t.claim_backoff = static_cast<uint32_t>(std::min<uint64_t>(backoff + back / 4, UINT32_MAX));
  }
  t.owned = Claim{};
  t.checked = false;
  t.hot = false;
  t.refills = 0;
}

bool SetUpThread(ThreadState &t) {
  if (t.phase == ThreadPhase::kFresh) {
    if (!RegisterThreadExit(&t)) return false;
    t.phase = ThreadPhase::kLive;
    FastBlock().grndpool_tag = NewThreadTag();
  }
  const uint32_t epoch = fork::ChildEpoch();
  if (t.child_epoch != epoch) {
    if (t.child_epoch != 0 || IsRawCloneForker()) {
      ResetInChild(t);
      LiftQuarantine();
      LiftHotQuarantine();
    }
    t.child_epoch = epoch;
  }
  return true;
}

SliceHeader *OwnedSlice(ThreadState &t, bool refilling) {
  const uint32_t tag = FastBlock().grndpool_tag;
  const bool held = t.owned.HeldBy(tag);
  if (held && !(refilling && GaveHotSliceBack(t))) {
    if (refilling) MaybeGoHot(t);
    return t.owned.slice;
  }
  // Read before the park cleared t.owned: a parked hot slice counts.
  const bool had_one = held || static_cast<bool>(t.owned);
  ForgetSlice(t);
  // Just off a slice (a hot one parked, or taken by a fork): the generation
  // is read again before an overflow draw takes reservoir bytes.
  if (had_one) t.reservoir = ReservoirWindow{};
  // Read once, written once: a fork in a handler between the two leaves the
  // child's reset back-off at a value below the interval, never wrapped.
  if (const uint32_t backoff = t.claim_backoff; !had_one && backoff > 0) {
    t.claim_backoff = backoff - 1;
    return nullptr;
  }
  // Nothing was freed since this thread's last claim found nothing: another
  // would scan every claim word in vain (at 4096 threads that scan, every 256
  // overflow draws, was a fifth of all the instructions drawing took).
  const uint64_t frees = SliceFrees();
  if (!had_one && t.claim_frees == frees) {
    t.claim_backoff = kClaimRetryInterval;
    return nullptr;
  }
  Claim claim = ClaimSlice(tag);
  // None left: a free hot slice's budget may be had (nobody draws from it).
  if (!claim && ParkFreeHotSlice()) claim = ClaimSlice(tag);
  KeepIfHeld(t, claim, false, tag);
  // A window covers one time past the budget: what is left of an earlier one
  // (and the lean grant ForgetSlice gave back to it) rests on a generation
  // read made before this slice, and would outlive any number of reseeds.
  if (t.owned) t.reservoir = ReservoirWindow{};
  t.claim_backoff = t.owned ? 0 : kClaimRetryInterval;
  // A claim that found the directory's lock held by a fork (Grow does not
  // wait then) tries again after the back-off, freed slices or not.
  t.claim_frees = t.owned || fork::ForkInProgress() ? 0 : frees;
  return t.owned.slice;
}

void ReleaseThread(ThreadState *t) {
  // From here on every draw on this thread, from a signal handler or from a
  // later pthread key destructor, goes to the kernel: nothing is claimed again.
  FastThreadBlock &fast = FastBlock();
  fast.grndpool_in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const Claim owned = t->owned;
  const bool hot = t->hot;
  t->phase = ThreadPhase::kExited;
  ForgetSlice(*t);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  FlushTally();
  // The thread a raw-clone child's slices are held back for is leaving, and
  // will not serve from its old slice again: nothing needs holding back.
  if ((t->child_epoch != 0 && t->child_epoch != fork::ChildEpoch()) || IsRawCloneForker()) {
    LiftQuarantine();
    LiftHotQuarantine();
  }
  // Threads found no slice: a hot slice's budget goes to them if it is wanted.
  GiveSliceBack(owned, hot, fast.grndpool_tag, true);
  if (g_process != nullptr) g_process->kernel->thread_exit();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fast.grndpool_in_draw = 0;
}

void StayInOverflowForTesting() {
  // As ReleaseThread: a handler that draws meanwhile goes to the kernel.
  FastThreadBlock &fast = FastBlock();
  fast.grndpool_in_draw = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ThreadState &t = ThisThread();
  const Claim owned = t.owned;
  const bool hot = t.hot;
  ForgetSlice(t);
  t.claim_backoff = UINT32_MAX;
  t.reservoir = ReservoirWindow{};
  // Freed, never parked as at thread exit: a hot slice stays for others to claim.
  GiveSliceBack(owned, hot, fast.grndpool_tag, false);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fast.grndpool_in_draw = 0;
}

}  // namespace grndpool
