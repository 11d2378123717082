// SPDX-License-Identifier: Apache-2.0
// Prototype: per-CPU buffers served under rseq (restartable sequences), so the
// number of buffers, the locked memory and the refill size do not depend on
// the number of threads. x86_64 only; bench-only.
//
// Kept from grndpool: buffers in one mmap'd, mlock'd, MADV_WIPEONFORK |
// MADV_DONTDUMP region; every refill keyed by a fresh 32-byte kernel key
// (grndpool's own kernel path, g_ops->fill) through grndpool::Keystream (the
// library's libcrypto ChaCha20 with its two keyings, register wipe and stack
// scrub); served bytes zeroed (exactly, see DrawN). Left out: fork and
// generation handling on the slow path (a child would find the pointer table
// wiped and refill), stats, the fallback for threads without rseq (they get
// kernel bytes here).
//
// Serving (DrawN): critical section 1 reads this CPU's active buffer, copies
// n bytes below its cursor out and commits the cursor (the last store);
// critical section 2 zeroes those bytes if the buffer is still this CPU's
// active one and has not been refilled since (its fill sequence). A
// preemption, migration or signal inside either restarts it (the kernel moves
// the thread to the abort handler), so no other thread can run on this CPU's
// buffer in between, and a signal handler's own draw is just another thread.
// Migration between the two sections leaves the bytes to be wiped when the
// buffer is retired (the buffer is marked).
//
// Refilling (Slow): take a ready buffer, or claim a free one and fill it
// (outside any critical section: the buffer is the thread's alone), then swap
// it in as the CPU's active buffer in critical section 3 if the active buffer
// is still the one found empty; the swapped-out buffer is then referenced by
// no critical section (any that read it was restarted when its thread was
// preempted), so it is wiped and freed at once. A buffer that lost the race is
// kept ready for the next refill. A filling thread that is preempted holds its
// buffer until it runs again, so the pool has to be larger than the number of
// threads preempted mid-fill at once: it is the budget's worth (2 MiB).
#include "threads_protos.h"

#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "grndpool/grndpool.h"
#include "lib/keystream.h"
#include "lib/runtime.h"
#include "lib/strategies/rseq_x86.h"

#if defined(__x86_64__)

namespace grndpool_bench {
namespace {

constexpr int kMaxCpus = 256;
constexpr size_t kHeaderBytes = 64;

// Buffer header; the data follows.
struct alignas(64) PcBuffer {
  int32_t avail;  // bytes left; served from the top down
  uint32_t pad0;
  uint64_t seq;                 // fill sequence: changes at every refill
  std::atomic<uint32_t> state;  // kFree, kBusy (filling or active), kReady
  std::atomic<uint32_t> dirty;  // served bytes may be left unzeroed (migration)
  uint8_t key[32];
  uint8_t pad1[8];
};
static_assert(sizeof(PcBuffer) == kHeaderBytes);

enum : uint32_t { kFree, kBusy, kReady };

// Every CPU's active buffer, read inside critical sections.
PcBuffer *g_active[kMaxCpus];
alignas(64) PcBuffer g_empty{};  // the active buffer of a CPU that has none

struct Pool {
  size_t buffer_bytes = 0;
  uint32_t capacity = 0;
  uint8_t *base = nullptr;
  int count = 0;
  PcBuffer *At(int i) const { return reinterpret_cast<PcBuffer *>(base + i * buffer_bytes); }
};

template <size_t kBufferBytes>
Pool &ThePool() {
  static Pool pool = [] {
    Pool p;
    p.buffer_bytes = kBufferBytes;
    p.capacity = static_cast<uint32_t>(kBufferBytes - kHeaderBytes);
    // As many buffers as the library's default slab budget holds (2 MiB): one
    // active per CPU, the rest spares. A thread preempted while it fills a
    // spare holds it until it runs again; with 3 per CPU + 2, 1024 CPU-bound
    // threads on 2 cores left every spare held and ~50 M of the draws went to
    // the kernel in one run (9 thousand with 128 buffers).
    p.count = static_cast<int>((size_t{2} << 20) / kBufferBytes);
    const size_t bytes = p.count * kBufferBytes;
    void *m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) abort();
    madvise(m, bytes, MADV_WIPEONFORK);
    madvise(m, bytes, MADV_DONTDUMP);
    mlock(m, bytes);
    p.base = static_cast<uint8_t *>(m);
    for (int i = 0; i < kMaxCpus; ++i) g_active[i] = &g_empty;
    return p;
  }();
  return pool;
}

// Section 3: makes `fresh` the active buffer of `cpu` if it is still `cur`.
// 0: done; 1: it was not `cur` any more; 2: migrated or preempted, try again.
int SwapIn(uint64_t cpu, PcBuffer *cur, PcBuffer *fresh) {
  struct rseq *rs = grndpool::ThreadRseq();
  __asm__ volatile goto(GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)             //
                        GRNDPOOL_RSEQ_ENTER("%rax")                 //
                        "cmpq %[cur], (%[active], %q[cpu], 8)\n\t"  //
                        "jnz %l[changed]\n\t"                       //
                        "movq %[fresh], (%[active], %q[cpu], 8)\n\t"
                        "2:\n\t" GRNDPOOL_RSEQ_ABORT(4, retry)
                        :
                        : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu),
                          [cur] "r"(cur), [fresh] "r"(fresh), [active] "r"(g_active)
                        : "memory", "cc", "rax"
                        : changed, retry);
  return 0;
changed:
  return 1;
retry:
  return 2;
}

void Release(PcBuffer *b) {
  b->state.store(kFree, std::memory_order_release);
}

// Fills `b` from a fresh kernel key.
void Fill(Pool &p, PcBuffer *b) {
  uint8_t *data = reinterpret_cast<uint8_t *>(b) + kHeaderBytes;
  grndpool::CurrentProcess().kernel->fill(b->key, sizeof b->key);
  if (!grndpool::Keystream(b->key, data, p.capacity))
    grndpool::CurrentProcess().kernel->fill(data, p.capacity);
  explicit_bzero(b->key, sizeof b->key);
  b->seq += 1;
  b->dirty.store(0, std::memory_order_relaxed);
  b->avail = static_cast<int32_t>(p.capacity);
}

// A filled buffer this thread now holds (kBusy), or nullptr.
PcBuffer *TakeFilled(Pool &p) {
  for (int i = 0; i < p.count; ++i) {
    PcBuffer *b = p.At(i);
    uint32_t want = kReady;
    if (b->state.load(std::memory_order_relaxed) == kReady &&
        b->state.compare_exchange_strong(want, kBusy, std::memory_order_acquire))
      return b;
  }
  for (int i = 0; i < p.count; ++i) {
    PcBuffer *b = p.At(i);
    uint32_t want = kFree;
    if (b->state.load(std::memory_order_relaxed) == kFree &&
        b->state.compare_exchange_strong(want, kBusy, std::memory_order_acquire)) {
      Fill(p, b);
      return b;
    }
  }
  return nullptr;
}

// Wipes what a retired buffer may still hold, and frees it.
void Retire(Pool &p, PcBuffer *b) {
  uint8_t *data = reinterpret_cast<uint8_t *>(b) + kHeaderBytes;
  const int32_t left = b->avail > 0 ? b->avail : 0;
  if (b->dirty.load(std::memory_order_relaxed))
    explicit_bzero(data, p.capacity);
  else
    explicit_bzero(data, static_cast<size_t>(left));
  b->avail = 0;
  Release(b);
}

// The active buffer of this CPU ran short: put a full one in its place.
// False when the draw must come from the kernel (no rseq, no buffer).
template <size_t kBufferBytes>
[[gnu::noinline]] bool Refill() {
  Pool &p = ThePool<kBufferBytes>();
  struct rseq *rs = grndpool::ThreadRseq();
  for (;;) {
    const int cpu = static_cast<int>(__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED));
    if (cpu < 0 || cpu >= kMaxCpus) return false;
    PcBuffer *cur = __atomic_load_n(&g_active[cpu], __ATOMIC_RELAXED);
    if (cur->avail >= 64) return true;  // another thread refilled it meanwhile
    PcBuffer *fresh = TakeFilled(p);
    if (fresh == nullptr) return false;
    const int r = SwapIn(static_cast<uint64_t>(cpu), cur, fresh);
    if (r == 0) {
      if (cur != &g_empty) Retire(p, cur);
      return true;
    }
    fresh->state.store(kReady, std::memory_order_release);  // for the next refill
    if (r == 1) return true;
  }
}

template <size_t kBufferBytes>
[[gnu::noinline]] void KernelDraw(void *out, size_t n) {
  grndpool::CurrentProcess().kernel->fill(out, n);
}

// n bytes (16, 32, 48 or 64) from this CPU's buffer into out in one critical
// section, as DrawU32: the cursor store, the copy through xmm0, xmm0 cleared,
// then the zero stores (from xmm1, zero), the last of which commits. A signal
// that lands while xmm0 holds bytes restarts the section after the cursor
// store, so what its frame saved is never served to anyone; no register holds
// served bytes once the section has committed.
template <size_t kBufferBytes, size_t kN>
inline void DrawN(void *out) {
  static_assert(kN % 16 == 0 && kN >= 16 && kN <= 64);
  struct rseq *rs = grndpool::ThreadRseq();
retry : {
  const uint64_t cpu = __atomic_load_n(&rs->cpu_id_start, __ATOMIC_RELAXED);
  PcBuffer *buf;
  uint64_t pos;
  __asm__ volatile goto(GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)            //
                        GRNDPOOL_RSEQ_ENTER("%rax")                //
                        "movq (%[active], %[cpu], 8), %[buf]\n\t"  // the CPU's buffer
                        "movl (%[buf]), %k[pos]\n\t"               // avail
                        "subl %[n], %k[pos]\n\t"                   //
                        "jl %l[slow]\n\t"                          //
                        "movl %k[pos], (%[buf])\n\t"               // avail -= n
                        "leaq 64(%[buf], %[pos]), %%rax\n\t"       // the bytes
                        "pxor %%xmm1, %%xmm1\n\t"                  //
                        ".irp off, 0, 16, 32, 48\n\t"              //
                        ".if \\off < %c[n]\n\t"                    //
                        "movdqu \\off(%%rax), %%xmm0\n\t"          //
                        "movdqu %%xmm0, \\off(%[out])\n\t"         //
                        ".endif\n\t"                               //
                        ".endr\n\t"                                //
                        "pxor %%xmm0, %%xmm0\n\t"                  //
                        ".irp off, 0, 16, 32\n\t"                  //
                        ".if \\off < %c[n] - 16\n\t"               //
                        "movdqu %%xmm1, \\off(%%rax)\n\t"          //
                        ".endif\n\t"                               //
                        ".endr\n\t"                                //
                        "movdqu %%xmm1, %c[n] - 16(%%rax)\n\t"     // commit: the last zeroed
                        "2:\n\t" GRNDPOOL_RSEQ_ABORT(4, abort)
                        : [buf] "=&r"(buf), [pos] "=&r"(pos)
                        : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu),
                          [active] "r"(g_active), [n] "i"(kN), [out] "r"(out)
                        : "memory", "cc", "rax", "xmm0", "xmm1"
                        : abort, slow);
}
  return;
abort:
  if (static_cast<int32_t>(__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED)) < 0) goto kernel;
  goto retry;
slow:
  if (Refill<kBufferBytes>()) goto retry;
kernel:
  KernelDraw<kBufferBytes>(out, kN);
}

// One u32 in one critical section: the cursor is moved down past the word,
// the word read into a register and zeroed, that last store being the
// commit. Cut before the cursor store: nothing happened. Cut after it: those
// 4 bytes are never served (a register copy a signal frame saved is of bytes
// nobody gets) and stay above the cursor until the buffer is refilled; the
// retry takes the next ones. (Reading the word before moving the cursor would
// let a signal frame save bytes another thread is served later.) The cursor
// is read with movl, not movslq: a sign-extending load of what the previous
// draw stored defeats store-to-load forwarding on Zen 3 (0.7 -> 2.6 ns a draw
// in a microbenchmark).
template <size_t kBufferBytes>
inline uint32_t DrawU32() {
  struct rseq *rs = grndpool::ThreadRseq();
  uint64_t v, pos;
  PcBuffer *buf;
retry : {
  const uint64_t cpu = __atomic_load_n(&rs->cpu_id_start, __ATOMIC_RELAXED);
  __asm__ volatile goto(
      GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4)            //
      GRNDPOOL_RSEQ_ENTER("[v]")                 //
      "movq (%[active], %[cpu], 8), %[buf]\n\t"  // the CPU's buffer
      "movl (%[buf]), %k[pos]\n\t"               // avail
      "subl $4, %k[pos]\n\t"                     // (zero-extends: pos >= 0 past the jl)
      "jl %l[slow]\n\t"                          //
      "movl %k[pos], (%[buf])\n\t"               // avail -= 4
      "movl 64(%[buf], %[pos]), %k[v]\n\t"       // the word
      "movl $0, 64(%[buf], %[pos])\n\t"          // commit: the word zeroed
      "2:\n\t" GRNDPOOL_RSEQ_ABORT(4, abort)
      : [v] "=&r"(v), [buf] "=&r"(buf), [pos] "=&r"(pos)
      : [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id), [cpu] "r"(cpu), [active] "r"(g_active)
      : "memory", "cc"
      : abort, slow);
}
  return static_cast<uint32_t>(v);
abort:
  if (static_cast<int32_t>(__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED)) < 0) goto kernel;
  goto retry;
slow:
  if (Refill<kBufferBytes>()) goto retry;
kernel : {
  uint32_t k;
  KernelDraw<kBufferBytes>(&k, sizeof k);
  return k;
}
}

template <size_t kBufferBytes>
uint32_t RunU32(uint64_t calls) {
  ThePool<kBufferBytes>();
  uint32_t acc = 0;
  for (uint64_t i = 0; i < calls; ++i) acc ^= DrawU32<kBufferBytes>();
  return acc;
}

template <size_t kBufferBytes>
uint32_t Run16B(uint64_t calls) {
  ThePool<kBufferBytes>();
  uint32_t acc = 0;
  for (uint64_t i = 0; i < calls; ++i) {
    uint32_t v[4];
    DrawN<kBufferBytes, 16>(v);
    acc ^= v[0] ^ v[3];
  }
  return acc;
}

}  // namespace

std::vector<ThreadsProto> ThreadsProtos() {
  std::vector<ThreadsProto> out;
  if (__rseq_size == 0) {
    fprintf(stderr, "threads_rounds: no rseq registered by libc: per-CPU prototypes skipped\n");
    return out;
  }
  out.push_back({"proto-percpu-16k", 4, RunU32<16384>});
  out.push_back({"proto-percpu-16k-16B", 16, Run16B<16384>});
  out.push_back({"proto-percpu-64k", 4, RunU32<65536>, true});
  return out;
}

}  // namespace grndpool_bench

#else  // !__x86_64__

namespace grndpool_bench {
std::vector<ThreadsProto> ThreadsProtos() {
  return {};
}
}  // namespace grndpool_bench

#endif
