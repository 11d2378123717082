// SPDX-License-Identifier: Apache-2.0
#include "lib/fork.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/slab_segment.h"
#include "lib/stats.h"

namespace grndpool::fork {
namespace {

constexpr uint32_t kWiped = 0;  // what the canary reads in a child before its reset
constexpr uint32_t kLive = 1;
constexpr uint32_t kResetting = 2;

constexpr int kMaxHooks = 12;
const Hooks *g_hooks[kMaxHooks];
int g_hook_count = 0;

// Where the kernel lacks a working MADV_WIPEONFORK no buffer can be mapped
// either, so every draw goes to the kernel; the canary then is a static word
// that never reads zero.
std::atomic<uint32_t> g_no_wipe_on_fork{kLive};
// Set once at start-up, read by every thread's slow path (and by a fork on
// any thread): atomic, so the reads are ordered after the write.
std::atomic<std::atomic<uint32_t> *> g_canary_page{&g_no_wipe_on_fork};
std::atomic<uint32_t> &Canary() {
  return *g_canary_page.load(std::memory_order_acquire);
}
std::atomic<uint32_t> g_child_epoch{1};
std::atomic<uint32_t> g_fork_count{0};
// Threads between their prepare and parent hooks (none in a child: the
// other forking threads are not copied).
std::atomic<uint32_t> g_forks_in_progress{0};
// Set on the forking thread from the prepare hooks to the end of the parent's
// or the child's (it is copied into the child with the rest of the thread).
thread_local bool t_forking [[gnu::tls_model("initial-exec")]] = false;

void RunChildHooks(bool via_atfork) {
  g_child_epoch.fetch_add(1, std::memory_order_relaxed);
  g_forks_in_progress.store(0, std::memory_order_relaxed);
  if (via_atfork) {
    g_fork_count.fetch_add(1, std::memory_order_relaxed);  // even again after Prepare's
  } else {
    // A raw clone may have copied a count left odd by another thread's fork in
    // progress: move it, and make it even, or every keyed refill here would
    // look cut by a fork.
    const uint32_t count = g_fork_count.load(std::memory_order_relaxed);
    g_fork_count.store((count | 1) + 1, std::memory_order_relaxed);
  }
  // The child counts its own work from zero. Locks are not inherited: each
  // module's child hook locks its memory again and counts what it locked.
  ResetCountersInChild();
  for (int i = g_hook_count - 1; i >= 0; --i) g_hooks[i]->child(via_atfork);
  Count(g_counters.fork_resets);
  Canary().store(kLive, std::memory_order_release);
}

void Prepare() {
  // A raw-clone child that has not reset yet may hold copies of locks taken
  // by threads that do not exist here: reset first, which re-creates them,
  // or the prepare hooks below would wait for them forever.
  (void)CheckInChild();
  t_forking = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_forks_in_progress.fetch_add(1, std::memory_order_seq_cst);
  g_fork_count.fetch_add(1, std::memory_order_seq_cst);
  for (int i = 0; i < g_hook_count; ++i) g_hooks[i]->prepare();
}
void Parent() {
  // The count moves before the fork stops being in progress: KeyedOutput
  // reads them the other way round, so it cannot miss both.
  g_fork_count.fetch_add(1, std::memory_order_seq_cst);
  for (int i = g_hook_count - 1; i >= 0; --i) g_hooks[i]->parent();
  g_forks_in_progress.fetch_sub(1, std::memory_order_seq_cst);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_forking = false;
}
void Child() {
  // The canary of a fork() child always reads wiped here; claim the reset so
  // that no other thread (none exists yet) could run it a second time.
  Canary().store(kResetting, std::memory_order_relaxed);
  RunChildHooks(true);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_forking = false;
}

}  // namespace

void RegisterHooks(const Hooks *hooks) {
  if (g_hook_count < kMaxHooks) g_hooks[g_hook_count++] = hooks;
}

void Init() {
  void *page = MapCanaryPage();
  if (page != nullptr) {
    static_cast<std::atomic<uint32_t> *>(page)->store(kLive, std::memory_order_relaxed);
    g_canary_page.store(static_cast<std::atomic<uint32_t> *>(page), std::memory_order_release);
  }
  pthread_atfork(Prepare, Parent, Child);
}

ChildState CheckInChild() {
  if (t_forking) return ChildState::kBusy;
  uint32_t seen = Canary().load(std::memory_order_acquire);
  if (seen == kLive) return ChildState::kNotForked;
  if (seen == kWiped &&
      Canary().compare_exchange_strong(seen, kResetting, std::memory_order_acquire)) {
    RunChildHooks(false);
    return ChildState::kReset;
  }
  return seen == kLive ? ChildState::kNotForked : ChildState::kBusy;
}

uint32_t ChildEpoch() {
  return g_child_epoch.load(std::memory_order_relaxed);
}

const std::atomic<uint32_t> *ForkCountWord() {
  return &g_fork_count;
}

uint32_t ForkCount() {
  return g_fork_count.load(std::memory_order_relaxed);
}

bool ForkInProgress() {
  return g_forks_in_progress.load(std::memory_order_seq_cst) != 0;
}

bool ForkedSince(uint32_t since) {
  return g_fork_count.load(std::memory_order_seq_cst) != since ||
         Canary().load(std::memory_order_relaxed) != kLive;
}

bool RelockIfReset(uint32_t before, uint32_t mapped, void *base, size_t bytes) {
  if (ChildEpoch() == before) return true;
  if (!LockSegment(base, bytes)) {
    Count(g_counters.mlock_failures);
    return false;
  }
  if (mapped == before) Count(g_counters.locked_bytes, bytes);
  return true;
}

uint32_t ForkSafeMutex::CallerId() {
  // Taken on first use from a process-wide count (a signal handler may be
  // the first user: a handler that interrupts the assignment takes an id of
  // its own, and the lock it took is released before it returns or, in
  // prepare, held under that id until the fork is done on both sides).
  static std::atomic<uint32_t> next{1};
  thread_local uint32_t id [[gnu::tls_model("initial-exec")]] = 0;
  if (id == 0) {
    const uint32_t mine = next.fetch_add(1, std::memory_order_relaxed) & ~kWaiters;
    if (id == 0) id = mine != 0 ? mine : 1;
  }
  return id;
}

bool ForkSafeMutex::LockSlow(bool yield_to_fork) {
  // As glibc's own lock: no spinning; once contended, the word keeps
  // kWaiters until it is released, so the release wakes whoever sleeps.
  const uint32_t me = CallerId();
  for (;;) {
    uint32_t seen = word_.load(std::memory_order_relaxed);
    if (seen == 0) {
      if (word_.compare_exchange_weak(seen, me | kWaiters, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return true;
      continue;
    }
    // Also in a child not reset yet: the holder may be a thread it lacks.
    if (yield_to_fork && ((seen & ~kWaiters) == me || ForkInProgress() ||
                          Canary().load(std::memory_order_relaxed) != kLive))
      return false;
    if ((seen & kWaiters) == 0 &&
        !word_.compare_exchange_weak(seen, seen | kWaiters, std::memory_order_relaxed))
      continue;
    // Bounded, and the word read again: a fork may begin while this thread
    // sleeps, and a release can be cut between clearing the word and the
    // wake by a handler on its thread that forks and waits for a lock this
    // thread holds (two forks at once).
    const timespec ms{0, 1000000};
    const int saved_errno = errno;  // a draw never changes it
    syscall(SYS_futex, &word_, FUTEX_WAIT_PRIVATE, seen | kWaiters, &ms, nullptr, 0);
    errno = saved_errno;
  }
}

void ForkSafeMutex::unlock() {
  if (word_.exchange(0, std::memory_order_release) & kWaiters) {
    // All of them: a woken waiter may give up (a fork began) without taking
    // the lock, and the others would then sleep out their 1 ms.
    syscall(SYS_futex, &word_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
  }
}

void ForkSafeMutex::PrepareFork() {
  if (HeldByCaller()) {
    forker_holds_ = true;  // the interrupted code releases it, on both sides
    return;
  }
  lock();
}

void ForkSafeMutex::ParentAfterFork() {
  // What prepare took is released; what the interrupted code held, it
  // releases itself.
  if (forker_holds_)
    forker_holds_ = false;
  else
    unlock();
}

void ForkSafeMutex::ChildAfterFork(bool via_atfork) {
  if (!via_atfork) {
    // A raw clone: a forker_holds_ copied from another thread's fork in
    // progress belongs to that thread, which is not here; so does a lock
    // held (or waited for) by any thread but this one.
    forker_holds_ = false;
    if (!HeldByCaller()) word_.store(0, std::memory_order_relaxed);
    return;
  }
  ParentAfterFork();  // glibc's fork(): the same release as in the parent
}

bool CanaryWorks() {
  return g_canary_page.load(std::memory_order_acquire) != &g_no_wipe_on_fork;
}

}  // namespace grndpool::fork
