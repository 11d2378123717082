// SPDX-License-Identifier: Apache-2.0
#include "lib/segment_directory.h"

#include <sched.h>
#include <urcu-bp.h>

#include <atomic>
#include <cstring>

#include "lib/slab_segment.h"
#include "lib/tsan.h"

// liburcu-bp's per-thread reader record (exported; its static header reads it
// too): nullptr while the thread is not registered.
extern "C" __thread void *urcu_bp_reader;

namespace grndpool {

struct SegmentArray {
  std::atomic<size_t> count;
  size_t capacity;
  SegmentArray *retired;  // outgrown arrays not freed yet (writers only)
  Segment segments[];     // oldest first
};

namespace {

SegmentArray *g_array = nullptr;  // RCU-protected: read with rcu_dereference
fork::ForkSafeMutex g_writers;
// False in any child process. The library calls none of liburcu's fork hooks:
// an application that shares liburcu-bp with it and calls urcu_bp_before_fork()
// itself, as liburcu asks, would deadlock on the second call. So in a child,
// where liburcu's registry may have been copied mid-update by a thread that is
// gone, readers use plain loads and no array is freed. Atomic (relaxed: it
// is only ever written in a child, before any draw there) so that a parent
// thread that read it and exited unjoined before fork() is no race either.
std::atomic<bool> g_rcu_usable{true};
// TSan only: readers release it, a finished grace period acquires it.
[[maybe_unused]] char g_grace_period;
// Readers that cannot use liburcu here (see RcuReaderReady): FreeOutgrownArrays
// waits for them too.
std::atomic<int> g_plain_readers{0};
thread_local bool t_rcu_seen [[gnu::tls_model("initial-exec")]] = false;

size_t ArrayBytes(size_t capacity) {
  return sizeof(SegmentArray) + capacity * sizeof(Segment);
}

// Zeroed, from mmap (a draw, even a thread's first from a signal handler,
// may need one).
SegmentArray *NewArray(size_t capacity) {
  auto *array = static_cast<SegmentArray *>(MapPlain(ArrayBytes(capacity)));
  if (array != nullptr) array->capacity = capacity;
  return array;
}

// Takes the retired arrays off the directory, or nullptr when they must wait
// (in a child). Called with g_writers held, so it calls nothing of liburcu's:
// its calls may take liburcu's locks (registering the thread, for one), and an
// application calling urcu_bp_before_fork() takes those before our fork hook
// takes g_writers.
SegmentArray *DetachRetired() {
  SegmentArray *array = g_array;
  if (array == nullptr || array->retired == nullptr ||
      !g_rcu_usable.load(std::memory_order_relaxed))
    return nullptr;
  SegmentArray *list = array->retired;
  array->retired = nullptr;
  return list;
}

// Holding the writers' lock across fork() also means no grace period of ours
// is in progress in the child.
void PrepareFork() {
  g_writers.PrepareFork();
}
void ParentAfterFork() {
  g_writers.ParentAfterFork();
}
void ChildAfterFork(bool via_atfork) {
  g_rcu_usable.store(false, std::memory_order_relaxed);
  g_writers.ChildAfterFork(via_atfork);
}
const fork::Hooks kForkHooks{PrepareFork, ParentAfterFork, ChildAfterFork};

}  // namespace

SegmentReader::SegmentReader() {
  if (!g_rcu_usable.load(std::memory_order_relaxed)) {
    mode_ = Mode::kChild;
    array_ = __atomic_load_n(&g_array, __ATOMIC_ACQUIRE);
  } else if (!RcuReaderReady()) {
    mode_ = Mode::kPlain;
    g_plain_readers.fetch_add(1, std::memory_order_seq_cst);
    array_ = __atomic_load_n(&g_array, __ATOMIC_SEQ_CST);
  } else {
    mode_ = Mode::kRcu;
    rcu_read_lock();
    array_ = rcu_dereference(g_array);
  }
  GRNDPOOL_TSAN_ACQUIRE(array_);
  count_ = array_ != nullptr ? array_->count.load(std::memory_order_acquire) : 0;
}

SegmentReader::~SegmentReader() {
  switch (mode_) {
    case Mode::kChild:
      return;
    case Mode::kPlain:
      GRNDPOOL_TSAN_RELEASE(&g_grace_period);
      g_plain_readers.fetch_sub(1, std::memory_order_seq_cst);
      return;
    case Mode::kRcu:
      GRNDPOOL_TSAN_RELEASE(&g_grace_period);
      rcu_read_unlock();
      return;
  }
}

const Segment &SegmentReader::operator[](size_t i) const {
  return array_->segments[i];
}

bool InitSegmentDirectory() {
  g_array = NewArray(8);
  fork::RegisterHooks(&kForkHooks);
  return g_array != nullptr;
}

fork::ForkSafeMutex &SegmentWriters() {
  return g_writers;
}

size_t SegmentCountForWriter() {
  return g_array != nullptr ? g_array->count.load(std::memory_order_relaxed) : 0;
}

Segment &SegmentForWriter(size_t i) {
  return g_array->segments[i];
}

bool AppendSegment(const Segment &segment) {
  SegmentArray *array = g_array;
  if (array == nullptr) return false;
  const size_t count = array->count.load(std::memory_order_relaxed);
  if (count == array->capacity) {
    SegmentArray *bigger = NewArray(array->capacity * 2);
    if (bigger == nullptr) return false;
    memcpy(bigger->segments, array->segments, count * sizeof(Segment));
    bigger->count.store(count, std::memory_order_relaxed);
    bigger->retired = array;  // array->retired chains the older ones
    GRNDPOOL_TSAN_RELEASE(bigger);
    rcu_set_pointer(&g_array, bigger);
    array = bigger;
  }
  array->segments[count] = segment;
  GRNDPOOL_TSAN_RELEASE(array);
  array->count.store(count + 1, std::memory_order_release);
  return true;
}

void FreeOutgrownArrays() {
  // Not from inside a read-side section: the grace period would wait for itself.
  if (!g_rcu_usable.load(std::memory_order_relaxed) || !RcuReaderReady() || rcu_read_ongoing() ||
      !g_writers.try_lock())
    return;
  SegmentArray *list = DetachRetired();
  g_writers.unlock();
  if (list == nullptr) return;
  // With no lock of ours held: an application that calls urcu_bp_before_fork()
  // holds liburcu's lock while our fork hook waits for g_writers, so waiting
  // for liburcu under it could deadlock.
  synchronize_rcu();
  while (g_plain_readers.load(std::memory_order_seq_cst) != 0) sched_yield();
  GRNDPOOL_TSAN_ACQUIRE(&g_grace_period);
  while (list != nullptr) {
    SegmentArray *next = list->retired;
    UnmapPlain(list, ArrayBytes(list->capacity));
    list = next;
  }
}

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

bool RcuUsable() {
  return g_rcu_usable.load(std::memory_order_relaxed);
}

}  // namespace grndpool
