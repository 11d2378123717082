// SPDX-License-Identifier: Apache-2.0
// The slow path of a draw: first draw of the process (start-up), other
// strategies, GRND_TIMESTAMP per draw, refills, a slice the kernel dropped or a
// new epoch made stale, fork, large requests, threads beyond the slab budget.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fast_path.h"
#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/hot_slices.h"
#include "lib/kernel/syscall.h"
#include "lib/refill.h"
#include "lib/runtime.h"
#include "lib/scrub.h"
#include "lib/shared_slices.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/strategies/registry.h"
#include "lib/thread_slice.h"

extern "C" {
thread_local constinit grndpool::FastThreadBlock grndpool_thread_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]] = {&grndpool::g_no_slice, 0, 0};
thread_local constinit grndpool::LaneBlock grndpool_lane_v1
    [[gnu::tls_model("initial-exec"), gnu::visibility("default")]] = {nullptr,
                                                                      &grndpool::g_no_slice};
}

namespace grndpool {

namespace {

const Process *g_process = nullptr;

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

// Bytes straight from the getrandom syscall: no buffer, no lock, no allocation,
// no vDSO state; async-signal-safe.
void KernelDraw(void *out, size_t n) {
  kernel::SyscallFill(out, n);
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
}

// Bytes from the kernel path in force (the vDSO where there is one).
void KernelPathDraw(void *out, size_t n) {
  g_process->kernel->fill(out, n);
  Count(g_counters.kernel_draws);
  Count(g_counters.bytes_served, n);
}

// GRND_TIMESTAMP per draw: the thread's draws from its owned `slice` stay
// inline (the lane) where the kernel path has a vDSO entry that answers it.
// The entry is what start-up published: g_process is set only by then.
void OpenLane(SliceHeader *slice) {
  const kernel::VdsoGetrandomFn vgetrandom = g_process->kernel->vgetrandom;
  if (vgetrandom != nullptr) ServeFromLane(slice, vgetrandom);
}

// The thread's owned slice, as Serve() reaches it. Only its owner writes it.
struct SliceBuffer {
  SliceHeader *slice;
  uint32_t capacity;
  uint32_t tag;

  // Its stamp is not the tag: the kernel dropped its page, or the epoch moved.
  bool Wiped() const { return slice->owner.load(std::memory_order_relaxed) != tag; }
  void Reset() { RestampSlice(slice, tag); }
  Stamp stamp() const { return slice->stamp; }
  size_t Avail() const { return slice->avail > 0 ? static_cast<size_t>(slice->avail) : 0; }
  size_t Take(uint8_t *out, size_t n) {
    const size_t take = n < Avail() ? n : Avail();
    ServeFromSlice(slice, slice->avail, out, take);
    return take;
  }
  bool Refill(const Stamp &s) {
    RefillSlice(slice, capacity, s);
    return true;
  }
};

// After a reservoir draw: what is left of the thread's window (bytes before
// its next generation read) and of its back-off (slow draws before its next
// claim, one per 4 bytes), in whole words, moves to its lean grant, which its
// word draws spend on the miss path (TakeLeanBytes, PerCpuTakeWord) at a fraction of the
// slow path's cost (32 against 14 ns an overflow u32, s13). Charged here;
// what is left when the slow path runs again goes back (ForgetSlice), and a
// grant cut short by a fork or a failed serve is lost, which only brings the
// next generation read and claim sooner.
void GrantLeanDraws(ThreadState &t) {
  // Read once and written once each (a handler may fork in between: the
  // child's reset is then overwritten with values below the window and the
  // back-off interval, and the grant carries the parent's fork count).
  const uint32_t forks = fork::ForkCount();
  const uint32_t unread = t.reservoir.unread, backoff = t.claim_backoff;
  const uint32_t by_claims = backoff > UINT32_MAX / 4 ? UINT32_MAX : backoff * 4;
  const uint32_t bytes = std::min(unread, by_claims) & ~3u;
  t.reservoir.unread = unread - bytes;
  t.claim_backoff = backoff - bytes / 4;
  StoreLean(t, MakeLean(bytes, forks));
}

// Draws past the slab budget: the reservoir, else the overflow slices, or
// the kernel for draws too large for them. The reservoir first: an overflow
// slice being refilled by a preempted thread sends every draw of the others
// to the kernel until it runs again (at 4096 threads on 2 cores a tenth of
// all draws), while a per-CPU buffer is never held by a preempted thread.
// A draw within the smallest slice's capacity (192 bytes or more), so a
// window's allowance covers it and never wraps.
static_assert(kMaxSharedDraw <= kMinSliceBytes - kSliceHeaderBytes);
void OverflowDraw(ThreadState &t, void *out, size_t n) {
  if (n > kMaxSharedDraw) return KernelPathDraw(out, n);
  if (ReservoirDraw(out, n, &t.reservoir)) {
    CountOverflowDraw(n, true);
    GrantLeanDraws(t);
  } else if (SharedDraw(out, n, FastBlock().grndpool_tag)) {
    CountOverflowDraw(n, false);
  }
}

// A draw larger than the slice: straight from fresh kernel keys, the slice
// only lending its key slot. False when a fork cut it.
bool LargeDraw(SliceHeader *slice, void *out, size_t n) {
  const uint32_t forks = fork::ForkCount();
  GenerateInto(slice, out, n);
  return !fork::ForkedSince(forks);
}

// One attempt at a draw. Returns false when a fork cut it (the slice may no
// longer be this thread's): the caller starts over.
bool DrawOnce(ThreadState &t, void *out, size_t n, bool slab_only) {
  if (t.phase == ThreadPhase::kExited || !EnsureInitialized() ||
      fork::CheckInChild() == fork::ChildState::kBusy || !SetUpThread(t)) {
    KernelDraw(out, n);  // exited, initialising, forking or resetting, no key
    return true;
  }
  if (!slab_only && g_process->options.strategy != Strategy::kSlab) {
    StrategyDraw(g_process->options.strategy, out, n);
    return true;
  }
  // Without a canary a raw-clone child could not tell it is one: no slices then.
  if (!fork::CanaryWorks()) {
    KernelPathDraw(out, n);
    return true;
  }
  const bool refilling = t.owned.slice != nullptr && t.owned.slice->avail < static_cast<int64_t>(n);
  SliceHeader *slice = OwnedSlice(t, refilling);
  if (slice == nullptr) {
    OverflowDraw(t, out, n);
    return true;
  }
  const uint32_t tag = FastBlock().grndpool_tag;
  bool served;
  if (n > t.owned.capacity) {
    served = LargeDraw(slice, out, n);
  } else {
    // GRND_TIMESTAMP: the cookie is asked on every draw, so the fast path
    // never serves this slice; the lane does, after its vDSO call, or this
    // thread's draws all come here.
    if (g_process->kernel->mode == kernel::GenerationMode::kPerDraw) {
      t.checked = true;
      OpenLane(slice);
    } else {
      ServeFrom(slice);
    }
    SliceBuffer buffer{slice, t.owned.capacity, tag};
    served = Serve(buffer, static_cast<uint8_t *>(out), n) == Served::kServed;
  }
  if (served) return true;
  // Cut by a fork: in a child this process no longer owns the slice.
  if (!t.owned.HeldBy(tag)) ForgetSlice(t);
  return false;
}

// This thread's slow draws, for tests (SlowDrawsForTesting).
thread_local constinit uint64_t t_slow_draws [[gnu::tls_model("initial-exec")]] = 0;

// SlowDraw without the register wipe.
void SlowDrawOnce(void *out, size_t n, bool slab_only) {
  ++t_slow_draws;
  ThreadState &t = ThisThread();
  // GRND_TIMESTAMP per draw, when the lane did not serve (a moved cookie, a
  // cut copy, no vDSO entry): the thread still owns its slice (a fork or
  // thread exit clears t.checked, a raw clone's child has no claim words),
  // and Serve asks the kernel's cookie before it serves. The lane opens
  // again after a cut (RedoCutDraw closed it). Refills take DrawOnce, which
  // may move the thread to a hot slice first.
  // The claim is read once: a fork from a signal handler in here leaves the
  // child's copy of this thread with t.owned cleared by its hook (read again,
  // the slice would be null) and the claim word free. So the lane opens on
  // the copy and is closed again if the claim was lost meanwhile (a fork
  // after that check closes it in its hook).
  const uint32_t tag = FastBlock().grndpool_tag;
  const Claim owned = t.owned;
  if (t.checked && owned.HeldBy(tag) && owned.slice->avail >= static_cast<int64_t>(n)) {
    SliceBuffer buffer{owned.slice, owned.capacity, tag};
    if (Serve(buffer, static_cast<uint8_t *>(out), n) == Served::kServed) {
      OpenLane(owned.slice);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (!owned.HeldBy(tag)) ServeNothing();
      return;
    }
  }
  while (!DrawOnce(t, out, n, slab_only)) Count(g_counters.fork_redraws);
}

// Start-up has ended (acquire: what it set up is visible).
bool StartedUp() {
  return g_init_state.load(std::memory_order_acquire) == kDone;
}

void ThreadExit(void *state) {
  ReleaseThread(static_cast<ThreadState *>(state));
}

void Initialize() {
  Process &process = InitRuntime(ThreadExit, StartedUp);
  // Without a thread key no slice refills (see below): no reservoir either.
  process.geometry =
      ComputeGeometry(process.options, HaveThreadKey() ? ReservoirBytes(process) : 0);
  g_process = &process;
  InitFreshness(*process.kernel);
  // Before the directory: fork child hooks run in reverse, so the directory
  // recounts the locked bytes first and the hot slices add theirs.
  InitHotSlices(process);
  InitSliceDirectory(process);
  // Without a thread key every draw goes to the kernel, and libcrypto is left
  // alone: it needs a pthread key of its own and crashes without one.
  if (HaveThreadKey()) InitRefill(process);
  InitSharedSlices(process);
  InitStrategies(process);
  InitThreadSlices(process);
  fork::Init();
  if (process.options.strategy == Strategy::kPerCpu && PerCpuPoolBytes() > 0)
    g_per_cpu_strategy.store(true, std::memory_order_release);
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

void SlowDraw(void *out, size_t n, bool slab_only) {
  SlowDrawOnce(out, n, slab_only);
  // Copies of what was served (memcpy's vector registers), or of keyed work,
  // must not outlive the draw in registers a signal frame or the dynamic
  // linker would save to the stack.
  WipeRegisters();
}

uint64_t SlowDrawsForTesting() {
  return t_slow_draws;
}

bool TakeLeanBytes(size_t n) {
  ThreadState &t = ThisThread();
  const uint64_t lean = LoadLean(t);
  if (LeanForks(lean) != fork::ForkCount() || LeanBytes(lean) < n) {
    StoreLean(t, 0);
    return false;
  }
  // Spent before the serve, in one store of what was read: a handler's draw
  // meanwhile goes to the kernel (the in-draw flag), a cut serve must not
  // leave the bytes granted, and a fork in a handler before the store leaves
  // the child a grant it drops (the parent's fork count).
  StoreLean(t, MakeLean(LeanBytes(lean) - static_cast<uint32_t>(n), LeanForks(lean)));
  CountOverflowDraw(n, true);
  return true;
}

void EndLeanGrant(size_t n) {
  UncountOverflowDraw(n);
  StoreLean(ThisThread(), 0);
}

void RedoCutDraw(void *out, size_t n, bool slab_only) {
  ThreadState &t = ThisThread();
  Count(g_counters.fork_redraws);
  // A fork took the slice from this process; a dropped page or a new epoch
  // did not (Serve stamps it again before anything is served from it).
  if (t.owned.HeldBy(FastBlock().grndpool_tag))
    ServeNothing();
  else
    ForgetSlice(t);
  SlowDraw(out, n, slab_only);
}

}  // namespace grndpool
