// SPDX-License-Identifier: Apache-2.0
// The slow path of a draw: first draw of the process and of a thread, other
// strategies, GRND_TIMESTAMP per draw, refill, fork, generation change, large
// requests, threads beyond the slab budget, and thread exit.
#include <sched.h>
#include <unistd.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fast_path.h"
#include "lib/fork.h"
#include "lib/hot_slices.h"
#include "lib/kernel/syscall.h"
#include "lib/refill.h"
#include "lib/runtime.h"
#include "lib/scrub.h"
#include "lib/shared_slices.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/strategies/registry.h"

extern "C" {
thread_local constinit grndpool::FastThreadBlock grndpool_thread_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]] = {&grndpool::g_no_slice, 0, 0};
}

namespace grndpool {

namespace {

// Not pthread_once: a signal handler that draws while its own thread is
// initialising must not wait for itself, and a child forked while another
// thread was initialising must not wait for a thread it does not have.
enum InitState : uint8_t {
  kNotStarted,
  kRunning,
  kDone,
  // A fork landed while another thread ran start-up: this process (a child)
  // has no thread to finish it, and its state is half made. Every draw here
  // goes to the kernel.
  kCutByFork,
};
std::atomic<uint8_t> g_init_state{kNotStarted};
// The process start-up runs in, written before it begins: a thread of
// another process (a child) that finds start-up running knows it was cut.
std::atomic<pid_t> g_init_pid{0};
thread_local bool t_initializing [[gnu::tls_model("initial-exec")]] = false;

void FlushSharedCounts(ThreadState &t) {
  if (t.unflushed_shared_draws == 0) return;
  Count(g_counters.shared_draws, t.unflushed_shared_draws);
  Count(g_counters.bytes_served, t.unflushed_shared_bytes);
  t.unflushed_shared_draws = 0;
  t.unflushed_shared_bytes = 0;
}

// Bytes straight from the getrandom syscall: no buffer, no lock, no allocation,
// no vDSO state; async-signal-safe.
void KernelDraw(void *out, size_t n) {
  kernel::SyscallFill(out, n);
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
}

// The thread that forked, in the child: its slice was wiped with the slab, and
// in a raw-clone child another thread may own that memory by now. Forget it.
void ForgetParentSlice(ThreadState &t) {
  ServeNothing();
  t.owned = Claim{};
  t.checked = nullptr;
  t.claim_backoff = 0;
  t.hot = false;
  t.refills = 0;
}

// A thread that had not drawn when it forked by raw clone: it is the child's
// first thread. Asked only while slices are held back for it.
bool IsRawCloneForker() {
  return (QuarantineActive() || HotQuarantineActive()) && gettid() == getpid();
}

// Brings the thread up to date with the process: the first draw registers its
// exit destructor; a thread from before the latest child reset is the one that
// forked (only it survives a fork), so it drops its parent-side slice and lets
// other threads use the parent's slices again.
bool SetUpThread(ThreadState &t) {
  if (t.phase == ThreadPhase::kFresh) {
    if (!RegisterThreadExit(&t)) return false;
    t.phase = ThreadPhase::kLive;
    FastBlock().grndpool_tag = NewThreadTag();
  }
  const uint32_t epoch = fork::ChildEpoch();
  if (t.child_epoch != epoch) {
    if (t.child_epoch != 0 || IsRawCloneForker()) {
      ForgetParentSlice(t);
      LiftQuarantine();
      LiftHotQuarantine();
    }
    t.child_epoch = epoch;
  }
  return true;
}

constexpr uint32_t kClaimRetryInterval = 256;  // overflow threads' slow draws between claims

// The slice this thread owns, claiming one if it has none (first draw, after
// fork, or a periodic retry in overflow); a slice whose page the kernel
// dropped is still this thread's (its claim word is elsewhere) and is stamped
// again, empty. nullptr: share the overflow slices.
SliceHeader *OwnedSlice(ThreadState &t) {
  const uint32_t tag = FastBlock().grndpool_tag;
  if (t.owned.HeldBy(tag)) {
    if (t.owned.slice->owner.load(std::memory_order_relaxed) != tag)
      RestampDroppedSlice(t.owned.slice, tag);
    return t.owned.slice;
  }
  const bool had_one = static_cast<bool>(t.owned);
  t.owned = Claim{};
  ServeNothing();
  t.checked = nullptr;
  t.hot = false;
  t.refills = 0;
  if (!had_one && t.claim_backoff > 0) {
    --t.claim_backoff;
    return nullptr;
  }
  FlushSharedCounts(t);
  t.owned = ClaimSlice(tag);
  t.capacity = Geometry().capacity;
  t.claim_backoff = t.owned ? 0 : kClaimRetryInterval;
  return t.owned.slice;
}

// Every this many refills of a small slice the thread looks at the clock; if
// they took less than kHotWindowNs it moves to a hot slice (at 1 KiB slices:
// 8 KiB in 10 ms, 800 KB/s). The coarse clock is a vDSO read, no syscall.
constexpr uint32_t kHotRefills = 8;
constexpr uint64_t kHotWindowNs = 10'000'000;

bool RefillsOften(ThreadState &t) {
  if (++t.refills % kHotRefills != 0) return false;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + ts.tv_nsec;
  const bool often = t.refill_clock != 0 && now - t.refill_clock < kHotWindowNs;
  t.refill_clock = now;
  return often;
}

// Called when the owned small slice is about to refill: a thread that refills
// often trades it for a hot slice (the small one is wiped and freed for
// others). Returns the slice to serve from.
SliceHeader *MaybeGoHot(ThreadState &t, SliceHeader *slice) {
  if (t.hot || !RefillsOften(t)) return slice;
  const uint32_t tag = FastBlock().grndpool_tag;
  // Kept here: a fork inside the claim (from a signal handler, or in the
  // mapping's mlock) makes the child forget t.owned; retiring the copy then
  // finds it no longer claimed and leaves it alone.
  const Claim small = t.owned;
  const Claim hot = ClaimHotSlice(tag);
  if (!hot) return slice;
  RetireSlice(small, t.capacity, tag);
  t.owned = hot;
  t.capacity = HotCapacity();
  t.hot = true;
  return hot.slice;
}

// Serves n bytes from an owned slice, refilling as often as needed.
void DrawFromSlice(SliceHeader *slice, uint32_t capacity, uint8_t *out, size_t n,
                   const RefillReason &first) {
  if (first.generation_changed) RefillSlice(slice, capacity, first);
  while (n > 0) {
    const int32_t avail = slice->avail;  // only this thread writes it
    if (avail > 0) {
      const size_t take = std::min<size_t>(static_cast<size_t>(avail), n);
      ServeFromSlice(slice, avail, out, take);
      out += take;
      n -= take;
    } else if (n > capacity) {
      GenerateInto(slice, out, n);  // large request: skip the slice entirely
      return;
    } else {
      RefillSlice(slice, capacity, RefillReason{});
    }
  }
}

// One attempt at a draw. Returns false when a fork or a dropped page cut it
// (the slice no longer names this thread): the caller starts over.
bool DrawOnce(ThreadState &t, void *out, size_t n, bool slab_only) {
  if (t.phase == ThreadPhase::kExited || !EnsureInitialized() ||
      fork::CheckInChild() == fork::ChildState::kBusy || !SetUpThread(t)) {
    KernelDraw(out, n);  // exited, initialising, forking or resetting, no key
    return true;
  }
  if (!slab_only && CurrentOptions().strategy != Strategy::kSlab) {
    StrategyDraw(CurrentOptions().strategy, out, n);
    return true;
  }
  // Without a canary a raw-clone child could not tell it is one: no slices then.
  if (!fork::CanaryWorks()) {
    g_ops->fill(out, n);
    Count(g_counters.kernel_draws);
    Count(g_counters.bytes_served, n);
    return true;
  }
  SliceHeader *slice = OwnedSlice(t);
  if (slice == nullptr) {
    if (n <= kMaxSharedDraw && SharedDraw(out, n, FastBlock().grndpool_tag)) {
      ++t.unflushed_shared_draws;
      t.unflushed_shared_bytes += n;
    } else if (n > kMaxSharedDraw) {
      g_ops->fill(out, n);
      Count(g_counters.kernel_draws);
      Count(g_counters.bytes_served, n);
    }
    return true;
  }
  if (slice->avail < static_cast<int64_t>(n) && n <= t.capacity) slice = MaybeGoHot(t, slice);
  RefillReason first;
  if (g_ops->mode == kernel::GenerationMode::kPerDraw) {
    // GRND_TIMESTAMP in the vDSO: ask on every draw, so this thread's draws all
    // come here and the fast path never serves from its slice.
    uint64_t cookie = slice->cookie;
    if (g_ops->timestamp(&cookie) != 0) {
      NoteGeneration(~cookie);
      first = RefillReason{true, cookie};
    }
    t.checked = slice;
  } else {
    ServeFrom(slice);
  }
  DrawFromSlice(slice, t.capacity, static_cast<uint8_t *>(out), n, first);
  // Cut: a fork wiped the slice (this process no longer owns it), or the
  // kernel dropped its page (still ours: the retry stamps it again).
  if (slice->owner.load(std::memory_order_relaxed) == FastBlock().grndpool_tag) return true;
  if (!t.owned.HeldBy(FastBlock().grndpool_tag)) ForgetParentSlice(t);
  return false;
}

void ThreadExit(void *state) {
  ReleaseThread(static_cast<ThreadState *>(state));
}

// glibc's fork() runs this in the forking thread of the child: its slice went
// with the wiped slab. (A raw-clone child finds out in SetUpThread instead.)
void ForgetSliceInChild(bool via_atfork) {
  if (!via_atfork) return;
  ThreadState &t = ThisThread();
  ForgetParentSlice(t);
  if (t.child_epoch != 0) t.child_epoch = fork::ChildEpoch();
}
void NoForkLocks() {}
const fork::Hooks kThreadForkHooks{NoForkLocks, NoForkLocks, ForgetSliceInChild};

// Enough cipher contexts for every refill that can run at once: the cores
// that can run one, and threads preempted inside one; never more than there
// are slices.
size_t CipherContexts(const SlabGeometry &geometry) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const size_t wanted = 32 + 8 * static_cast<size_t>(cpus > 0 ? cpus : 1);
  return std::min(wanted, (geometry.max_segments - 1) * geometry.slices_per_segment + 1);
}

void Initialize() {
  InitRuntime(ThreadExit);
  const Options &options = CurrentOptions();
  const SlabGeometry geometry = ComputeGeometry(options.slab_bytes, options.slice_bytes);
  // Before the directory: fork child hooks run in reverse, so the directory
  // recounts the locked bytes first and the hot slices add theirs.
  if (options.hot_slice_bytes > options.slice_bytes)
    InitHotSlices(options.hot_slice_bytes, options.slab_bytes / 4 / options.hot_slice_bytes);
  InitSliceDirectory(geometry);
  // Without a thread key every draw goes to the kernel, and libcrypto is left
  // alone: it needs a pthread key of its own and crashes without one.
  if (HaveThreadKey())
    InitRefill(RefillConfig{options.refill, options.rekey_bytes, g_ops, CipherContexts(geometry)});
  InitSharedSlices(g_ops, geometry.capacity);
  InitStrategies();
  fork::RegisterHooks(&kThreadForkHooks);
  fork::Init();
}

}  // namespace

bool EnsureInitialized() {
  uint8_t state = g_init_state.load(std::memory_order_acquire);
  if (__builtin_expect(state == kDone, 1)) return true;
  if (state == kNotStarted) {
    // Before the claim: a fork between the two leaves a child that finds
    // start-up running under another pid.
    const pid_t self = getpid();
    g_init_pid.store(self, std::memory_order_relaxed);
    if (g_init_state.compare_exchange_strong(state, kRunning, std::memory_order_acq_rel)) {
      t_initializing = true;
      Initialize();
      // Fails only in a child whose thread forked from a signal handler
      // inside start-up and which some other thread saw cut meanwhile.
      uint8_t running = kRunning;
      g_init_state.compare_exchange_strong(running, kDone, std::memory_order_acq_rel);
      t_initializing = false;
      return g_init_state.load(std::memory_order_acquire) == kDone;
    }
  }
  // The thread that is initialising, re-entered from a signal handler, must
  // not wait for itself; other threads wait (start-up takes well under a
  // millisecond), unless start-up runs in another process: this is a child
  // forked during it, with a half-made state and nobody to finish it.
  if (t_initializing) return false;
  for (;;) {
    state = g_init_state.load(std::memory_order_acquire);
    if (state == kDone) return true;
    if (state == kCutByFork) return false;
    if (state == kRunning &&
        g_init_pid.load(std::memory_order_relaxed) != static_cast<pid_t>(getpid())) {
      g_init_state.compare_exchange_strong(state, kCutByFork, std::memory_order_acq_rel);
      continue;
    }
    sched_yield();
  }
}

bool StartUpCutByFork() {
  return g_init_state.load(std::memory_order_acquire) == kCutByFork;
}

void NestedDraw(void *out, size_t n) {
  KernelDraw(out, n);
}

namespace {

// SlowDraw without the register wipe.
void SlowDrawOnce(void *out, size_t n, bool slab_only) {
  ThreadState &t = ThisThread();
  // GRND_TIMESTAMP per draw, the common case: the generation holds and the
  // slice has the bytes. A fork, a dropped page or thread exit cleared
  // t.checked or shows in the owner word; everything else takes DrawOnce.
  if (SliceHeader *slice = t.checked) {
    uint64_t cookie = slice->cookie;
    const int32_t avail = slice->avail;
    if (avail > 0 && static_cast<size_t>(avail) >= n && g_ops->timestamp(&cookie) == 0) {
      ServeFromSlice(slice, avail, out, n);
      if (slice->owner.load(std::memory_order_relaxed) == FastBlock().grndpool_tag) return;
    }
  }
  while (!DrawOnce(t, out, n, slab_only)) Count(g_counters.fork_redraws);
}

}  // namespace

void SlowDraw(void *out, size_t n, bool slab_only) {
  SlowDrawOnce(out, n, slab_only);
  // Copies of what was served (memcpy's vector registers), or of keyed work,
  // must not outlive the draw in registers a signal frame or the dynamic
  // linker would save to the stack.
  WipeRegisters();
}

void RedoCutDraw(void *out, size_t n, bool slab_only) {
  ThreadState &t = ThisThread();
  Count(g_counters.fork_redraws);
  // A fork took the slice from this process; a dropped page did not (its
  // stamp is renewed by OwnedSlice before anything is served from it again).
  if (t.owned.HeldBy(FastBlock().grndpool_tag))
    ServeNothing();
  else
    ForgetParentSlice(t);
  SlowDraw(out, n, slab_only);
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
  ServeNothing();
  t->owned = Claim{};
  t->checked = nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  FlushSharedCounts(*t);
  // The thread a raw-clone child's slices are held back for is leaving, and
  // will not serve from its old slice again: nothing needs holding back.
  if ((t->child_epoch != 0 && t->child_epoch != fork::ChildEpoch()) || IsRawCloneForker()) {
    LiftQuarantine();
    LiftHotQuarantine();
  }
  if (owned) {
    if (hot)
      ReleaseHotSlice(owned, fast.grndpool_tag);
    else
      ReleaseSlice(owned, fast.grndpool_tag);
  }
  if (g_ops != nullptr) g_ops->thread_exit();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fast.grndpool_in_draw = 0;
}

}  // namespace grndpool
