// SPDX-License-Identifier: Apache-2.0
// Everything about fork, in one place: the wipe-on-fork canary that tells a
// child it is one (also after raw clone() or _Fork(), which run no atfork
// handlers), the one pthread_atfork registration, and the ordered table of hooks
// that modules register for their locks and state.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace grndpool::fork {

struct Hooks {
  // In the forking thread before fork(): take the module's locks.
  void (*prepare)();
  // In the parent after fork(): release them.
  void (*parent)();
  // In the child, once. via_atfork: glibc's fork() ran prepare, so release the
  // locks it took; otherwise (raw clone, _Fork) the locks may have been copied
  // held by threads that do not exist here: re-create them. Then reset state.
  // Runs in the forking thread via atfork; otherwise in whichever thread of the
  // child first took a slow path.
  void (*child)(bool via_atfork);
};

// Adds `hooks` to the table (at most 12 rows): prepare runs in registration
// order, parent and child in reverse. Start-up only, before Init().
void RegisterHooks(const Hooks *hooks);

// Maps the canary and registers the one pthread_atfork. Start-up only.
void Init();

enum class ChildState : uint8_t {
  kNotForked,  // the canary is intact: same process as at start-up, or already reset
  kReset,      // this call found a child and reset it (hooks ran)
  // Use the kernel for this draw: another thread of this child is resetting
  // it, or this thread is inside its own fork() (between the prepare hooks and
  // the parent's or child's: a signal handler there may find the library's
  // locks held by the very code it interrupted).
  kBusy,
};

// Called first on every slow path. Cheap when nothing happened: two loads.
ChildState CheckInChild();

// Bumped by every child reset: a thread whose recorded epoch is older came
// from the parent (it is the thread that forked). Starts at 1.
uint32_t ChildEpoch();

// Bumped when a fork is prepared (making it odd) and again after it on both
// sides; a raw-clone child moves it to the next even value when it resets. A
// key chain keyed under another count is rekeyed from the kernel, and keyed
// work that saw the count move or odd is thrown away (a child could hold that
// key).
uint32_t ForkCount();

// The count's word, for code that compares it inside a restartable sequence
// (lib/strategies/per_cpu.cc), where no function can be called.
const std::atomic<uint32_t> *ForkCountWord();

// True while some thread of this process is inside fork(), between its
// prepare hooks and its parent hooks. Not the count's parity: glibc runs the
// prepare hooks of two threads forking at once side by side, so two prepares
// can leave the count even while both forks are under way.
bool ForkInProgress();

// True when a fork happened since ForkCount() returned `since` (in the parent
// or the child), or this is a child that has not been reset yet. Checked after a
// copy out of wipe-on-fork memory that a fork could have cut.
bool ForkedSince(uint32_t since);

// True when the canary maps a real wipe-on-fork page.
bool CanaryWorks();

// Mapping locked memory races a fork from a signal handler: a child reset
// between the lock and the mapping's publication did not lock it again (locks
// are not inherited). Take ChildEpoch() before mapping (`before`) and right
// after (`mapped`); once the mapping is published, this locks it again in such
// a child and counts it: a fork inside the mapping left its count to the child,
// a fork after it had it erased by the child's recount (a fork in the few
// instructions between leaves locked_bytes one mapping short there). False
// when the lock failed (counted in mlock_failures).
bool RelockIfReset(uint32_t before, uint32_t mapped, void *base, size_t bytes);

// A mutex whose fork hooks survive a fork from a signal handler that
// interrupted its own holder: prepare does not wait for the thread it runs on,
// and a raw-clone child re-creates a lock copied held by a thread that is gone.
// Slow paths only.
//
// The lock word is its holder's id: taking the lock and recording who holds
// it are one compare-and-swap, releasing both one exchange, so a handler can
// never find the lock held with no holder recorded (with a pthread mutex and a
// holder field beside it, a fork in that window made prepare wait for its own
// thread for ever). Waiters sleep on the word (a futex).
class ForkSafeMutex {
 public:
  // Waits as long as it takes. Fork hooks only (and tests): a draw takes
  // LockUnlessForking instead.
  void lock() {
    if (!TryTake()) (void)LockSlow(false);
  }
  // lock(), but gives up (false) rather than wait while another thread is
  // inside fork() (its prepare hooks hold every such lock until fork() is
  // done, and glibc's fork() waits for malloc's locks after them: a signal
  // handler's draw that waited here, on a thread interrupted inside malloc,
  // would deadlock with the forking thread), or when this thread holds it
  // already (a handler that interrupted the holder). The caller then serves
  // the draw another way.
  [[nodiscard]] bool LockUnlessForking() { return TryTake() || LockSlow(true); }
  [[nodiscard]] bool try_lock() { return TryTake(); }
  void unlock();

  void PrepareFork();
  void ParentAfterFork();
  void ChildAfterFork(bool via_atfork);

 private:
  static constexpr uint32_t kWaiters = 1u << 31;  // set: a waiter may sleep on the word

  bool TryTake() {
    uint32_t expected = 0;
    return word_.compare_exchange_strong(expected, CallerId(), std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
  bool LockSlow(bool yield_to_fork);
  bool HeldByCaller() const {
    return (word_.load(std::memory_order_relaxed) & ~kWaiters) == CallerId();
  }
  // This thread's id for the lock word: nonzero, below kWaiters, unique among
  // the threads of the process (a fork child's forking thread keeps its own).
  static uint32_t CallerId();

  std::atomic<uint32_t> word_{0};
  bool forker_holds_ = false;
};

// A ForkSafeMutex held for a scope when LockUnlessForking() took it.
class ForkSafeLock {
 public:
  explicit ForkSafeLock(ForkSafeMutex &mutex) : mutex_(mutex), held_(mutex.LockUnlessForking()) {}
  ~ForkSafeLock() {
    if (held_) mutex_.unlock();
  }
  ForkSafeLock(const ForkSafeLock &) = delete;
  ForkSafeLock &operator=(const ForkSafeLock &) = delete;
  explicit operator bool() const { return held_; }

 private:
  ForkSafeMutex &mutex_;
  const bool held_;
};

// The prepare and parent hooks of a module whose lock is `mutex`, for its
// Hooks row: {MutexForkHooks<m>::Prepare, MutexForkHooks<m>::Parent, child}.
// The module's child hook calls mutex.ChildAfterFork(via_atfork) first.
template <ForkSafeMutex &mutex>
struct MutexForkHooks {
  static void Prepare() { mutex.PrepareFork(); }
  static void Parent() { mutex.ParentAfterFork(); }
};

}  // namespace grndpool::fork
