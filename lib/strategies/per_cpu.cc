// SPDX-License-Identifier: Apache-2.0
// Per-CPU buffers served under rseq (restartable sequences): the number of
// buffers, the locked memory and the refill size follow the number of CPUs,
// not of threads, so a thousand threads on two cores refill as rarely as two.
// x86_64 with rseq registered by glibc (>= 2.35); anywhere else, and for a
// thread whose rseq registration failed, draws go to the per-thread strategy.
//
// Memory: one mapping from MapSegment (wipe-on-fork, not dumped, locked; if it
// cannot be locked the strategy is off): a table (a live word, every CPU's
// active buffer, every buffer's state word) and the buffers, each a
// SliceHeader and its data, filled by RefillSlice (a fresh kernel key per
// refill, as the slab's slices). A child after fork finds the table and the
// buffers zero: no active buffer, every buffer free, the live word 0 until its
// reset (the fork hook) locks the mapping again.
//
// Serving: one critical section reads this CPU's active buffer, checks its
// epoch against the process epoch, moves the cursor down past n bytes, copies
// them out and zeroes them; the zeroing is the commit. A preemption,
// migration or signal inside it sends the thread to the abort handler before
// the section resumes, so no other thread can run on this CPU's buffer in
// between; a section cut after the cursor store leaves those bytes to nobody
// (they stay above the cursor, never served, and are wiped when the buffer is
// retired), and a signal frame that saved them saved bytes nobody gets.
//
// Refilling: take a ready buffer, or claim a free one and fill it (outside any
// critical section: the buffer is the thread's alone, its state word holding
// the thread's id), then swap it in as the CPU's active buffer in a second
// critical section, which also checks that the active buffer is still the one
// found empty, that no fork happened since the refill began (the fork count)
// and that this is not a child whose reset has not run (the live word): a
// child never publishes a buffer its parent's refill filled. The buffer it
// replaced is then read by no critical section (any that read it was
// restarted when its thread left the CPU), so it is wiped and freed at once.
// A buffer that lost the race stays ready for the next refill. A filling
// thread that is preempted holds its buffer until it runs again; when no
// buffer is free the draw goes to the per-thread strategy (counted in
// percpu_fallbacks).
//
// The reservoir (the slab strategy, chacha20 refills, the generation not
// asked per draw): the same pool, of 2 x CPUs + 2 buffers (at most an eighth
// of the slab budget, which the slab's geometry leaves to it), from which the slab's
// small slices (at most kReservoirMaxBytes) take their refills in sections of
// kMaxPiece bytes, memory to memory, instead of keying a cipher for a few
// hundred bytes each: the kernel key and the keyings are paid once per 16 KiB
// buffer, as for a hot slice. What a raw clone during a refill can learn is
// one buffer's output (the key sits in libcrypto's heap while it is made),
// the same bound as one hot slice refill.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/fast_path.h"
#include "lib/refill.h"
#include "lib/scrub.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"
#include "lib/strategies/registry.h"
#include "lib/strategies/strategies.h"
#include "lib/tsan.h"

#if defined(__x86_64__) && __has_include(<sys/rseq.h>)
#include "lib/strategies/rseq_x86.h"
#define GRNDPOOL_PER_CPU 1
#else
#define GRNDPOOL_PER_CPU 0
#endif

// The public header's view of the pool (its inline word draws), on every
// architecture so that the exported symbols are the same; filled on x86_64
// only. Pointers and a count, no secret.
extern "C" GRNDPOOL_API struct grndpool_percpu_v1 grndpool_percpu_v1;
struct grndpool_percpu_v1 grndpool_percpu_v1 = {};

namespace grndpool {

#if GRNDPOOL_PER_CPU
namespace {

constexpr size_t kBufferBytes = 16384;
constexpr uint32_t kCapacity = kBufferBytes - sizeof(SliceHeader);
constexpr size_t kMaxCpus = 4096;
// A draw larger than this is served in pieces of it, each its own section.
// A 1 KiB slice's refill is one section: in 256-byte pieces its three more
// sections (entry, two string starts, exit: ~14 ns each here) took 0.17 ns
// of each u32 drawn from it (2.50 against 2.33 ns; 1.92 from a hot slice).
// A buffer left with fewer bytes than a piece is swapped, so up to a piece
// per 16 KiB buffer goes unserved.
constexpr size_t kMaxPiece = 1024;
// The section compares 32 bits of n with the cursor but copies all 64.
static_assert(kMaxPiece <= kCapacity && kMaxPiece <= INT32_MAX);
// Aborted sections in a row before a draw gives up on this CPU's buffer (a
// thread preempted at every attempt).
constexpr int kMaxAborts = 64;
constexpr int kMaxRefills = 4;

// State words: free (what a child reads: wiped), ready (filled, current when
// filled, active nowhere), or the id of the thread that holds it (filling it,
// or the one that made it active: an active buffer's state is not read).
enum : uint32_t { kFree = 0, kReady = 1, kFirstId = 2 };

enum MapState : uint32_t { kUnmapped, kMapping, kMapped, kOff };

// What the pool is for in this process (start-up decides).
enum class Role : uint8_t { kNone, kStrategy, kReservoir };

struct alignas(64) Table {
  std::atomic<uint32_t> live;  // 1 once this process locked the mapping
  uint32_t pad_[15];
  // Followed by SliceHeader *active[cpus], std::atomic<uint32_t> state[count].
};

struct Pool {
  uint8_t *base = nullptr;
  size_t bytes = 0;
  size_t cpus = 0;
  size_t count = 0;
  SliceHeader **active = nullptr;
  std::atomic<uint32_t> *state = nullptr;
  uint8_t *buffers = nullptr;

  Table *table() const { return reinterpret_cast<Table *>(base); }
  SliceHeader *At(size_t i) const {
    return reinterpret_cast<SliceHeader *>(buffers + i * kBufferBytes);
  }
  size_t IndexOf(const SliceHeader *b) const {
    return static_cast<size_t>(reinterpret_cast<const uint8_t *>(b) - buffers) / kBufferBytes;
  }
};

struct Geometry {
  size_t cpus, count, table, bytes;
};

const Process *g_process = nullptr;
Role g_role = Role::kNone;
// The pool's shape, fixed at start-up: the CPU count is read once, so the
// mapped pool is the share the slab's geometry left to the reservoir even
// if sysconf later answers otherwise (a hot-added CPU, a lost /sys).
Geometry g_geometry{};
Geometry g_reservoir_geometry{};  // what ReservoirBytes() offered the slab
bool g_per_draw = false;          // GRND_TIMESTAMP in the vDSO: the generation is asked per draw
// EpochWord() and fork::ForkCountWord(), kept at start-up.
const std::atomic<uint32_t> *g_epoch_word = nullptr;
const std::atomic<uint32_t> *g_fork_count_word = nullptr;
std::atomic<uint32_t> g_map{kUnmapped};
Pool g_pool;  // written once, before g_map is kMapped
std::atomic<uint32_t> g_next_id{kFirstId};
std::atomic<uint32_t> g_next_scan{0};
thread_local uint32_t t_id [[gnu::tls_model("initial-exec")]] = 0;
// Sections the kernel cut (preemption, migration, signal): counted on the
// abort path only, for tests that must show they made it happen.
std::atomic<uint64_t> g_serve_aborts{0}, g_swap_aborts{0};

// A per-thread id for state words, unique in the process. A child's threads
// other than the forker take new ids from the copied counter.
uint32_t ThreadId() {
  if (__builtin_expect(t_id == 0, 0)) {
    uint32_t id;
    do id = g_next_id.fetch_add(1, std::memory_order_relaxed);
    while (id < kFirstId);  // skips kFree and kReady after a wrap
    t_id = id;
  }
  return t_id;
}

constexpr size_t kEpochOffset = offsetof(SliceHeader, stamp) + offsetof(Stamp, epoch);
static_assert(offsetof(SliceHeader, avail) == 0);
static_assert(sizeof(SliceHeader) == 64);
// A buffer's refill never comes back to the reservoir (RefillSlice).
static_assert(kCapacity > kReservoirMaxBytes);

enum class Section : uint8_t { kDone = 0, kAborted = 1, kEmpty = 2 };  // the sections' status

// n (1..kMaxPiece) bytes from `cpu`'s active buffer into out: the cursor
// store, the copy, then the zeroing, whose end is the commit. kEmpty: no
// active buffer, one of another epoch, or fewer than n bytes left.
Section ServeBytes(uint64_t cpu, uint8_t *out, size_t n) {
  struct rseq *rs = ThreadRseq();
  uint64_t buf, pos;
  uint32_t status;
  __asm__ volatile(
      GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)               //
      GRNDPOOL_RSEQ_ENTER("%rax")                   //
      "movq (%[active], %[cpu], 8), %[buf]\n\t"     // the CPU's buffer
      "testq %[buf], %[buf]\n\t"                    //
      "jz 5f\n\t"                                   //
      "movl (%[epoch]), %%eax\n\t"                  //
      "cmpl %%eax, %c[epoch_off](%[buf])\n\t"       // made in this epoch
      "jnz 5f\n\t"                                  //
      "movl (%[buf]), %k[pos]\n\t"                  // avail
      "subl %k[n], %k[pos]\n\t"                     //
      "jl 5f\n\t"                                   //
      "movl %k[pos], (%[buf])\n\t"                  // avail -= n
      "leaq %c[hdr](%[buf], %[pos]), %%rsi\n\t"     // the bytes
      "movq %[out], %%rdi\n\t"                      //
      "movq %[n], %%rcx\n\t"                        //
      "rep movsb\n\t"                               //
      "leaq %c[hdr](%[buf], %[pos]), %%rdi\n\t"     //
      "movq %[n], %%rcx\n\t"                        //
      "xorl %%eax, %%eax\n\t"                       //
      "rep stosb\n\t"                               // commit: the last byte zeroed
      "2:\n\t"                                      //
      "xorl %k[status], %k[status]\n\t"             // served
      "jmp 6f\n\t"                                  //
      "5:\n\t"                                      //
      "movl $2, %k[status]\n\t"                     // nothing to serve here
      "jmp 6f\n\t" GRNDPOOL_RSEQ_ABORT_LOCAL(4, 7)  //
      "7:\n\t"                                      //
      "movl $1, %k[status]\n\t"                     // cut: aborted
      "6:\n\t"
      : [buf] "=&r"(buf), [pos] "=&r"(pos), [status] "=&r"(status)
      : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu),
        [active] "r"(g_pool.active), [epoch] "r"(g_epoch_word), [epoch_off] "i"(kEpochOffset),
        [hdr] "i"(sizeof(SliceHeader)), [n] "r"(n), [out] "r"(out)
      : "memory", "cc", "rax", "rcx", "rsi", "rdi");
  return static_cast<Section>(status);
}

// One word (4 or 8 bytes) in one section, as ServeBytes, through a register:
// the cursor store, the load, then the zeroing store, which commits. Cut
// before the cursor store: nothing happened; after it: those bytes are never
// served (a register copy a signal frame saved is of bytes nobody gets). The
// word leaves in a register.
template <typename T>
[[gnu::always_inline]] inline Section ServeWord(uint64_t cpu, T *word) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  struct rseq *rs = ThreadRseq();
  uint64_t buf, pos, v;
  uint32_t status;
#define GRNDPOOL_WORD_SECTION(mov, reg) \
  __asm__ volatile(GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)                                              \
                   GRNDPOOL_RSEQ_ENTER("[v]")                                                   \
                   "movq (%[active], %[cpu], 8), %[buf]\n\t"                                    \
                   "testq %[buf], %[buf]\n\t"                                                   \
                   "jz 5f\n\t"                                                                  \
                   "movl (%[epoch]), %k[v]\n\t"                                                 \
                   "cmpl %k[v], %c[epoch_off](%[buf])\n\t"                                      \
                   "jnz 5f\n\t"                                                                 \
                   "movl (%[buf]), %k[pos]\n\t"                                                 \
                   "subl %[size], %k[pos]\n\t"                                                  \
                   "jl 5f\n\t"                                                                  \
                   "movl %k[pos], (%[buf])\n\t"                                                 \
                   mov " %c[hdr](%[buf], %[pos]), %" reg "[v]\n\t"                              \
                   mov " $0, %c[hdr](%[buf], %[pos])\n\t"                                       \
                   "2:\n\t"                                                                     \
                   "xorl %k[status], %k[status]\n\t"                                            \
                   "jmp 6f\n\t"                                                                 \
                   "5:\n\t"                                                                     \
                   "movl $2, %k[status]\n\t"                                                    \
                   "jmp 6f\n\t" GRNDPOOL_RSEQ_ABORT_LOCAL(4, 7)                                 \
                   "7:\n\t"                                                                     \
                   "movl $1, %k[status]\n\t"                                                    \
                   "6:\n\t"                                                                     \
                   : [v] "=&r"(v), [buf] "=&r"(buf), [pos] "=&r"(pos), [status] "=&r"(status)    \
                   : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu),       \
                     [active] "r"(g_pool.active), [epoch] "r"(g_epoch_word),                      \
                     [epoch_off] "i"(kEpochOffset), [hdr] "i"(sizeof(SliceHeader)),              \
                     [size] "i"(sizeof(T))                                                       \
                   : "memory", "cc")
  if constexpr (sizeof(T) == 4)
    GRNDPOOL_WORD_SECTION("movl", "k");
  else
    GRNDPOOL_WORD_SECTION("movq", "q");
#undef GRNDPOOL_WORD_SECTION
  *word = static_cast<T>(v);
  return static_cast<Section>(status);
}

// 0: `fresh` is now `cpu`'s active buffer in place of `cur`. 1: it was not,
// and will not be on retrying: `cur` is no longer active there, a fork
// happened since `forks` was read, or this is a child not reset yet. 2: the
// section was cut (preempted, migrated, signalled); try again.
int SwapIn(uint64_t cpu, SliceHeader *cur, SliceHeader *fresh, uint32_t forks) {
  struct rseq *rs = ThreadRseq();
  __asm__ volatile goto(
      GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)               //
      GRNDPOOL_RSEQ_ENTER("%rax")                   //
      "cmpl $1, (%[live])\n\t"                      // reset in this process
      "jnz %l[changed]\n\t"                         //
      "cmpl %k[forks], (%[fork_count])\n\t"         // no fork since
      "jnz %l[changed]\n\t"                         //
      "cmpq %[cur], (%[active], %q[cpu], 8)\n\t"    //
      "jnz %l[changed]\n\t"                         //
      "movq %[fresh], (%[active], %q[cpu], 8)\n\t"  // commit
      "2:\n\t" GRNDPOOL_RSEQ_ABORT(4, retry)
      :
      : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu),
        [live] "r"(&g_pool.table()->live), [forks] "r"(forks), [fork_count] "r"(g_fork_count_word),
        [cur] "r"(cur), [fresh] "r"(fresh), [active] "r"(g_pool.active)
      : "memory", "cc", "rax"
      : changed, retry);
  return 0;
changed:
  return 1;
retry:
  return 2;
}

// The CPU this thread runs on as rseq last told it, or -1: no rseq
// registration (glibc.pthread.rseq=0, a kernel without rseq, a vfork child's
// unregistered task sees the parent thread's area: not detectable, see the
// README) or more CPUs than the table has.
int64_t ThisCpu() {
  const int32_t cpu =
      static_cast<int32_t>(__atomic_load_n(&ThreadRseq()->cpu_id, __ATOMIC_RELAXED));
  if (cpu < 0 || static_cast<size_t>(cpu) >= g_pool.cpus) return -1;
  return cpu;
}

// Wipes a buffer no section reads any more (swapped out, or never swapped in)
// and frees it.
void Retire(SliceHeader *b) {
  GRNDPOOL_TSAN_ACQUIRE(b);
  const uint32_t filled = b->filled.load(std::memory_order_relaxed);
  const int32_t avail = std::atomic_ref<int32_t>(b->avail).load(std::memory_order_relaxed);
  const uint32_t left = avail > 0 ? static_cast<uint32_t>(avail) : 0;
  // The reservoir's bytes went into slices, whose refills count them.
  if (g_role != Role::kReservoir) Count(g_counters.bytes_served, filled > left ? filled - left : 0);
  Count(g_counters.bytes_discarded, left);
  // All of it: bytes skipped by a cut section are above the cursor, unzeroed.
  explicit_bzero(b->data(), kCapacity);
  b->Reset();
  g_pool.state[g_pool.IndexOf(b)].store(kFree, std::memory_order_release);
}

// A buffer full of current bytes, now held by `me` (its state word), or
// nullptr: every buffer is active or held.
SliceHeader *TakeFilled(uint32_t me) {
  const size_t count = g_pool.count;
  const size_t start = g_next_scan.fetch_add(1, std::memory_order_relaxed) % count;
  for (const uint32_t wanted : {kReady, kFree}) {
    for (size_t k = 0; k < count; ++k) {
      const size_t i = (start + k) % count;
      uint32_t seen = g_pool.state[i].load(std::memory_order_relaxed);
      if (seen != wanted ||
          !g_pool.state[i].compare_exchange_strong(seen, me, std::memory_order_acquire))
        continue;
      SliceHeader *b = g_pool.At(i);
      GRNDPOOL_TSAN_ACQUIRE(b);
      if (wanted == kFree || !IsCurrent(b->stamp))
        RefillSlice(b, kCapacity, StampForFill(b->stamp));
      GRNDPOOL_TSAN_RELEASE(b);
      return b;
    }
  }
  return nullptr;
}

// The active buffer of CPU `seen_cpu`, `seen` right after a section found it
// empty (or stale), could not serve: put a full one in its place. Reads no
// buffer header (another thread may be retiring or refilling `seen` by now):
// only which buffer is active. False when the draw must go elsewhere.
bool Refill(int64_t seen_cpu, SliceHeader *seen) {
  if (g_pool.table()->live.load(std::memory_order_acquire) != 1) return false;
  // A refill may start libcrypto, which allocates: not on a thread whose
  // glibc fork() holds malloc's locks (a handler on the forking thread), as
  // the slow path's CheckInChild does not let it either. Any fork will do.
  if (fork::ForkInProgress()) return false;
  const uint32_t forks = fork::ForkCount();
  const int64_t cpu = ThisCpu();
  if (cpu < 0) return false;
  SliceHeader *cur = __atomic_load_n(&g_pool.active[cpu], __ATOMIC_RELAXED);
  // Another thread on that CPU swapped a buffer in since: serve from it.
  if (cpu == seen_cpu && cur != seen) return true;
  if (cur != nullptr) GRNDPOOL_TSAN_ACQUIRE(cur);
  const uint32_t me = ThreadId();
  SliceHeader *fresh = TakeFilled(me);
  if (fresh == nullptr && cur != nullptr && cpu == seen_cpu) {
    // Every buffer is active on some CPU (a pool of no more buffers than the
    // CPUs that draw, as the reservoir's may be), so none would ever be
    // retired again: this CPU's, found empty or stale, is taken out (swapped
    // for none), retired, and refilled like any free one.
    const int out = SwapIn(static_cast<uint64_t>(cpu), cur, nullptr, forks);
    __atomic_store_n(&ThreadRseq()->rseq_cs, 0, __ATOMIC_RELAXED);
    if (out == 2) g_swap_aborts.fetch_add(1, std::memory_order_relaxed);
    if (out != 0) return out == 2 || !fork::ForkedSince(forks);
    Retire(cur);
    cur = nullptr;
    fresh = TakeFilled(me);
  }
  if (fresh == nullptr) return false;
  // The keystream's work stays in vector registers: none of it may outlive
  // the refill (the word section and the byte copy use none).
  WipeRegisters();
  const int r = SwapIn(static_cast<uint64_t>(cpu), cur, fresh, forks);
  __atomic_store_n(&ThreadRseq()->rseq_cs, 0, __ATOMIC_RELAXED);  // as after a serve
  if (r == 2) g_swap_aborts.fetch_add(1, std::memory_order_relaxed);
  if (r == 0) {
    if (cur != nullptr) Retire(cur);
    return true;
  }
  // Kept for the next refill if it is still this thread's: in a child (a
  // fork from a signal handler cut this refill) the state word reads free,
  // or another thread of the child's now.
  uint32_t mine = me;
  g_pool.state[g_pool.IndexOf(fresh)].compare_exchange_strong(mine, kReady,
                                                              std::memory_order_release);
  return r == 2 || !fork::ForkedSince(forks);
}

// n bytes (at most kMaxPiece) from this CPU's buffer; false: not served. For
// a word (T of 4 or 8 bytes) out is a T.
template <typename T>
[[gnu::always_inline]] inline bool ServeHere(uint8_t *out, size_t n) {
  int aborts = 0, refills = 0;
  for (;;) {
    const int64_t cpu = ThisCpu();
    if (cpu < 0) return false;
    Section s;
    if constexpr (sizeof(T) > 1)
      s = ServeWord<T>(static_cast<uint64_t>(cpu), reinterpret_cast<T *>(out));  // aligned: a T
    else
      s = ServeBytes(static_cast<uint64_t>(cpu), out, n);
    // The thread's rseq area no longer points into this object once the
    // section is over: a copy of the static library in a plugin may be
    // dlclosed, and the kernel reads the descriptor at every preemption.
    __atomic_store_n(&ThreadRseq()->rseq_cs, 0, __ATOMIC_RELAXED);
    if (__builtin_expect(s == Section::kDone, 1)) return true;
    if (s == Section::kAborted) {
      g_serve_aborts.fetch_add(1, std::memory_order_relaxed);
      if (++aborts > kMaxAborts) return false;
    } else if (++refills > kMaxRefills ||
               !Refill(cpu, __atomic_load_n(&g_pool.active[cpu], __ATOMIC_RELAXED))) {
      return false;
    }
  }
}

// The pool's shape for this machine, the slab budget and `role`.
Geometry PoolGeometry(Role role, size_t budget) {
  const long conf = sysconf(_SC_NPROCESSORS_CONF);
  const size_t cpus = std::clamp<size_t>(conf > 0 ? static_cast<size_t>(conf) : 1, 1, kMaxCpus);
  const size_t page = PageBytes();
  const auto table_for = [&](size_t buffers) {
    return (sizeof(Table) + cpus * sizeof(SliceHeader *) + buffers * sizeof(uint32_t) + page - 1) /
           page * page;
  };
  if (role == Role::kReservoir) {
    // Two per CPU (a spare to fill while one serves) and two more, within an
    // eighth of the budget: the slab keeps the rest. Fewer than two: none
    // (count 0). With fewer than one per CPU, the CPUs that find none refill
    // their slices with keys of their own.
    const size_t eighth = budget / 8;
    const size_t fit = eighth > table_for(0) ? (eighth - table_for(0)) / kBufferBytes : 0;
    const size_t count = std::min(fit, 2 * cpus + 2);
    if (count < 2) return {cpus, 0, 0, 0};
    const size_t table = table_for(count);
    return {cpus, count, table, table + count * kBufferBytes};
  }
  // The strategy: the slab's budget, in 16 KiB buffers, the table included;
  // at least two per CPU and two more.
  const size_t table = table_for(std::max(budget / kBufferBytes, 2 * cpus + 2));
  const size_t count = std::max((budget > table ? budget - table : 0) / kBufferBytes, 2 * cpus + 2);
  return {cpus, count, table, table + count * kBufferBytes};
}

// The public header's inline word draws serve from the pool from now on
// when it is the process's strategy and the generation is not asked per draw
// (their section does not ask it). The fields first, the table last.
void PublishForInlineDraws() {
  if (g_role != Role::kStrategy || g_per_draw) return;
  grndpool_percpu_v1.grndpool_rseq_offset = __rseq_offset;
  grndpool_percpu_v1.grndpool_epoch = reinterpret_cast<const uint32_t *>(g_epoch_word);
  grndpool_percpu_v1.grndpool_forks = reinterpret_cast<const uint32_t *>(g_fork_count_word);
  grndpool_percpu_v1.grndpool_live = reinterpret_cast<const uint32_t *>(&g_pool.table()->live);
  grndpool_percpu_v1.grndpool_cpus = static_cast<uint32_t>(g_pool.cpus);
  __atomic_store_n(&grndpool_percpu_v1.grndpool_active,
                   reinterpret_cast<grndpool_slice_v1 *const *>(g_pool.active), __ATOMIC_RELEASE);
}

// Maps the pool, once, on the first draw; false while another thread maps it,
// or for good when it cannot be mapped and locked.
bool Mapped() {
  uint32_t state = g_map.load(std::memory_order_acquire);
  if (__builtin_expect(state == kMapped, 1)) return true;
  if (state != kUnmapped ||
      !g_map.compare_exchange_strong(state, kMapping, std::memory_order_acq_rel))
    return false;
  const Geometry g = g_geometry;
  const size_t cpus = g.cpus, count = g.count, table = g.table, bytes = g.bytes;
  const uint32_t before = fork::ChildEpoch();
  // Without a thread key the refill module is not set up (every draw of the
  // process goes to the kernel), so neither is this.
  const SegmentMapping m =
      __rseq_size > 0 && RefillReady() ? MapSegment(bytes, false) : SegmentMapping{};
  if (m.base == nullptr || !m.locked) {
    if (m.base != nullptr) UnmapSegment(m, bytes);
    g_map.store(kOff, std::memory_order_release);
    return false;
  }
  Pool p;
  p.base = static_cast<uint8_t *>(m.base);
  p.bytes = bytes;
  p.cpus = cpus;
  p.count = count;
  p.active = reinterpret_cast<SliceHeader **>(p.base + sizeof(Table));
  p.state = reinterpret_cast<std::atomic<uint32_t> *>(p.base + sizeof(Table) +
                                                      cpus * sizeof(SliceHeader *));
  p.buffers = p.base + table;
  g_pool = p;
  g_map.store(kMapped, std::memory_order_release);
  // A child forked from a signal handler during MapSegment did not lock it.
  if (fork::RelockIfReset(before, fork::ChildEpoch(), m.base, bytes)) {
    g_pool.table()->live.store(1, std::memory_order_release);
    // A raw clone (no atfork handler) between the mlock and that store left
    // a child whose mapping is not locked and whose live word now reads 1:
    // its canary is wiped, so it takes the live word back; its first full
    // draw resets it (ChildAfterFork locks and sets it again). A clone after
    // the store finds the live word wiped anyway.
    if (fork::ForkedSince(fork::ForkCount()))
      g_pool.table()->live.store(0, std::memory_order_release);
  }
  PublishForInlineDraws();
  return true;
}

// A child after fork: locks are not inherited. Until this runs the live word
// reads 0 and no refill publishes anything.
void NoForkLocks() {}
void ChildAfterFork(bool) {
  if (g_map.load(std::memory_order_acquire) != kMapped) return;
  const bool locked = LockSegment(g_pool.base, g_pool.bytes);
  CountLock(locked, g_pool.bytes);
  if (locked) g_pool.table()->live.store(1, std::memory_order_release);
}
const fork::Hooks kForkHooks{NoForkLocks, NoForkLocks, ChildAfterFork};

// A fork since `forks` was read, or a child not reset yet: what ForkedSince
// tells, from the fork count and this mapping's own wipe-on-fork live word
// (for a raw clone's child, which runs no atfork handler), inline.
bool CutByFork(uint32_t forks) {
  return g_fork_count_word->load(std::memory_order_seq_cst) != forks ||
         g_pool.table()->live.load(std::memory_order_relaxed) != 1;
}

// Runs `serve` (one or more sections) between the checks every serve needs:
// the pool mapped, the generation asked (GRND_TIMESTAMP per draw: a new cookie
// moves the epoch), and no fork since. Not served also when a fork cut it: a
// fork from a signal handler after the commit left the child's copy equal to
// the parent's, and the caller's full path then resets a child before it
// draws again.
template <typename Serve>
[[gnu::always_inline]] inline bool GuardedServe(Serve serve) {
  if (__builtin_expect(g_map.load(std::memory_order_acquire) != kMapped, 0) && !Mapped())
    return false;
  if (g_per_draw) CheckGeneration();
  const uint32_t forks = g_fork_count_word->load(std::memory_order_relaxed);
  if (!serve()) return false;
  if (__builtin_expect(CutByFork(forks), 0)) {
    // (The reservoir's caller serves elsewhere instead: a slice refill keys
    // its own, an overflow draw takes the shared slices.)
    if (g_role != Role::kReservoir) Count(g_counters.fork_redraws);
    return false;
  }
  return true;
}

// One word (4 or 8 bytes) in registers: the common case.
template <typename T>
PerCpuWord ServeWordDraw() {
  T v;
  if (!GuardedServe([&] { return ServeHere<T>(reinterpret_cast<uint8_t *>(&v), sizeof v); }))
    return {0, false};
  return {v, true};
}

// A served word into out, straight from the register it came in: a copy
// of run-time size would go through the stack, and stay there.
bool StoreWord(const PerCpuWord &w, void *out, size_t n) {
  if (!w.ok) return false;
  if (n == 8)
    __builtin_memcpy(out, &w.value, 8);
  else
    __builtin_memcpy(out, &w.value, 4);
  return true;
}

// Serves n bytes (any size), in pieces; false: the caller serves them elsewhere.
// A word (an overflow draw's u32 or u64) in one word section: `rep movsb`
// and `rep stosb` start slowly.
bool PerCpuServe(uint8_t *out, size_t n) {
  if (n == 8) return StoreWord(ServeWordDraw<uint64_t>(), out, 8);
  if (n == 4) return StoreWord(ServeWordDraw<uint32_t>(), out, 4);
  return GuardedServe([&] {
    for (size_t done = 0; done < n; done += kMaxPiece)
      if (!ServeHere<uint8_t>(out + done, std::min(kMaxPiece, n - done))) return false;
    return true;
  });
}

}  // namespace

// Under the slab strategy the pool is the small slices' reservoir when
// refills are chacha20 (direct mode asks for kernel bytes in every slice),
// the generation is not asked per draw (the sections do not ask it) and rseq
// is registered.
size_t ReservoirBytes(const Process &process) {
  g_reservoir_geometry = Geometry{};
  if (process.options.strategy != Strategy::kSlab ||
      process.options.refill != RefillMode::kChacha20 ||
      process.kernel->mode != kernel::GenerationMode::kPerRefill || __rseq_size == 0)
    return 0;
  g_reservoir_geometry = PoolGeometry(Role::kReservoir, process.options.slab_bytes);
  return g_reservoir_geometry.bytes;
}

void InitPerCpuStrategy(const Process &process) {
  g_process = &process;
  g_per_draw = process.kernel->mode == kernel::GenerationMode::kPerDraw;
  g_epoch_word = EpochWord();
  g_fork_count_word = fork::ForkCountWord();
  fork::RegisterHooks(&kForkHooks);
  // The reservoir needs the refill module (a thread key): without one its
  // share of the budget stays unused, as the slab does.
  if (process.options.strategy == Strategy::kPerCpu) {
    g_role = Role::kStrategy;
  } else if (process.geometry.reservoir_bytes != 0 && RefillReady() &&
             process.geometry.reservoir_bytes == g_reservoir_geometry.bytes) {
    g_role = Role::kReservoir;
    g_geometry = g_reservoir_geometry;
    SetRefillReservoir(PerCpuServe);  // the reservoir's fill: bytes of this CPU's buffer
    return;
  }
  g_geometry = PoolGeometry(Role::kStrategy, process.options.slab_bytes);
}

const char *ReservoirStatus() {
  if (g_role != Role::kReservoir) return "off";
  switch (g_map.load(std::memory_order_acquire)) {
    case kMapped:
      return "in-use";
    case kOff:
      return "unused:not-locked";
    default:
      return "not-yet";
  }
}

bool PerCpuPoolIsReservoir() {
  return g_role == Role::kReservoir;
}

void PerCpuAbortsForTesting(uint64_t *serve, uint64_t *swap) {
  *serve = g_serve_aborts.load(std::memory_order_relaxed) +
           __atomic_load_n(&grndpool_percpu_v1.grndpool_aborts, __ATOMIC_RELAXED);
  *swap = g_swap_aborts.load(std::memory_order_relaxed);
}

int PerCpuSectionOnCpuForTesting(int64_t cpu) {
  if (!Mapped() || cpu < 0 || static_cast<size_t>(cpu) >= g_pool.cpus) return -1;
  uint32_t v;
  const Section s = ServeWord<uint32_t>(static_cast<uint64_t>(cpu), &v);
  __atomic_store_n(&ThreadRseq()->rseq_cs, 0, __ATOMIC_RELAXED);
  explicit_bzero(&v, sizeof v);
  return s == Section::kDone ? 0 : s == Section::kAborted ? 1 : 2;
}

bool PerCpuPeekForTesting(int64_t cpu, uint8_t *out, size_t n) {
  if (g_map.load(std::memory_order_acquire) != kMapped || cpu < 0 ||
      static_cast<size_t>(cpu) >= g_pool.cpus)
    return false;
  const SliceHeader *b = __atomic_load_n(&g_pool.active[cpu], __ATOMIC_ACQUIRE);
  if (b == nullptr) return false;
  const int32_t avail = __atomic_load_n(&b->avail, __ATOMIC_RELAXED);
  if (avail < static_cast<int32_t>(n)) return false;
  memcpy(out, reinterpret_cast<const uint8_t *>(b + 1) + avail - n, n);
  return true;
}

bool PerCpuTake(void *out, size_t n) {
  return n <= kMaxPiece && PerCpuServe(static_cast<uint8_t *>(out), n);
}

PerCpuWord PerCpuTakeWord(size_t n) {
  return n == 8 ? ServeWordDraw<uint64_t>() : ServeWordDraw<uint32_t>();
}

size_t PerCpuPoolBytes() {
  return __rseq_size > 0 && g_process != nullptr && RefillReady() ? g_geometry.bytes : 0;
}

void PerCpuStrategyDraw(void *out, size_t n) {
  if (n == 4 || n == 8) {
    if (__builtin_expect(StoreWord(PerCpuTakeWord(n), out, n), 1)) return;
  } else if (__builtin_expect(PerCpuServe(static_cast<uint8_t *>(out), n), 1)) {
    return;
  }
  Count(g_counters.percpu_fallbacks);
  // Without the pool (no rseq, no lock, no thread key) the per-thread
  // strategy stands in for it. Otherwise this draw only (no buffer free, a
  // fork): the kernel path, which locks no memory per thread.
  if (g_map.load(std::memory_order_acquire) == kOff)
    PerThreadStrategyDraw(out, n);
  else
    CountFill(g_process->kernel->fill(out, n));
}

#else  // !GRNDPOOL_PER_CPU

void InitPerCpuStrategy(const Process &) {}

bool PerCpuTake(void *, size_t) {
  return false;
}

PerCpuWord PerCpuTakeWord(size_t) {
  return {0, false};
}

size_t ReservoirBytes(const Process &) {
  return 0;
}

bool PerCpuPoolIsReservoir() {
  return false;
}

const char *ReservoirStatus() {
  return "off";
}

bool PerCpuPeekForTesting(int64_t, uint8_t *, size_t) {
  return false;
}

int PerCpuSectionOnCpuForTesting(int64_t) {
  return -1;
}

void PerCpuAbortsForTesting(uint64_t *serve, uint64_t *swap) {
  *serve = *swap = 0;
}

size_t PerCpuPoolBytes() {
  return 0;
}

void PerCpuStrategyDraw(void *out, size_t n) {
  Count(g_counters.percpu_fallbacks);
  PerThreadStrategyDraw(out, n);
}

#endif

}  // namespace grndpool
