// SPDX-License-Identifier: Apache-2.0
// Everything about fork, in one place: the wipe-on-fork canary that tells a
// child it is one (also after raw clone() or _Fork(), which run no atfork
// handlers), the one pthread_atfork registration, and the ordered table of hooks
// that modules register for their locks and state.
#pragma once

#include <pthread.h>

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
class ForkSafeMutex {
 public:
  void lock() {
    pthread_mutex_lock(&mutex_);
    holder_.store(pthread_self(), std::memory_order_relaxed);
  }
  void unlock() {
    holder_.store(0, std::memory_order_relaxed);
    pthread_mutex_unlock(&mutex_);
  }
  bool try_lock() {
    if (pthread_mutex_trylock(&mutex_) != 0) return false;
    holder_.store(pthread_self(), std::memory_order_relaxed);
    return true;
  }

  void PrepareFork() {
    if (HeldByCaller()) {
      forker_holds_ = true;  // the interrupted code releases it, on both sides
      return;
    }
    lock();
  }
  void ParentAfterFork() {
    if (forker_holds_)
      forker_holds_ = false;
    else
      unlock();
  }
  void ChildAfterFork(bool via_atfork) {
    if (forker_holds_) {
      forker_holds_ = false;
    } else if (via_atfork) {
      unlock();
    } else if (!HeldByCaller()) {
      mutex_ = PTHREAD_MUTEX_INITIALIZER;
      holder_.store(0, std::memory_order_relaxed);
    }
  }

 private:
  bool HeldByCaller() const { return holder_.load(std::memory_order_relaxed) == pthread_self(); }
  pthread_mutex_t mutex_ = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<pthread_t> holder_{0};
  bool forker_holds_ = false;
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
