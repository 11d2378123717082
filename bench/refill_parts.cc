// SPDX-License-Identifier: Apache-2.0
// refill_parts: the native cost of each part of a slice refill, one by one,
// and of touching many slices in turn (issue 20: where the time of a small
// refill goes when 1024 threads share 2 cores).
//
//   parts   every part runs a block of ~--block-us in an order rotated each
//           round (--rounds); ns per call, best block the process was not
//           preempted in (as u32_rounds), median beside it. The library's own
//           functions (grndpool_internal): RefillSlice, Keystream, the kernel
//           key read, the generation label, WipeRegisters, ScrubStackBelow;
//           libcrypto's ChaCha20 reached as lib/keystream.cc reaches it (the
//           default provider's dispatch table): one keying, one update of a
//           given size; and the bookkeeping around them (the cipher pool's two
//           atomic exchanges, the four shared counters, the coarse clock, a
//           hot-slice claim scan over 32 cold headers).
//   stack   how deep libcrypto's ChaCha20 writes below its caller (a painted
//           stack), and where a copy of the key lands: what the stack scrub
//           must cover.
//   touch   N slices of S bytes in one buffer, visited round robin, V u32
//           served from each visit (copy, zero, move the cursor; an empty slice
//           is refilled with grndpool::Keystream and a fresh key): ns per u32
//           for N = 1 .. 4096, interleaved blocks, best unpreempted, so the
//           cost of a cold slice (what a thread finds when it is scheduled
//           again) shows against a warm one.
//
//   refill_parts [--rounds 31] [--block-us 400] [--only parts|stack|touch]
//
// Run under callgrind with --toggle-collect='*Part*' to count each part's
// instructions (callgrind_annotate lists them by name).
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <sys/resource.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/freshness.h"
#include "lib/keystream.h"
#include "lib/refill.h"
#include "lib/runtime.h"
#include "lib/scrub.h"
#include "lib/slice.h"

namespace grndpool_bench {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long InvoluntarySwitches() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nivcsw;
}

[[noreturn]] void Die(const char *what) {
  fprintf(stderr, "refill_parts: %s failed\n", what);
  exit(1);
}

// libcrypto's ChaCha20 as lib/keystream.cc calls it: the default provider's
// dispatch table, in a library context of our own.
struct ProviderChaCha {
  OSSL_FUNC_cipher_encrypt_init_fn *init = nullptr;
  OSSL_FUNC_cipher_update_fn *update = nullptr;
  void *ctx = nullptr;
  ProviderChaCha() {
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = libctx ? OSSL_PROVIDER_load(libctx, "default") : nullptr;
    if (prov == nullptr) Die("OSSL_PROVIDER_load");
    int no_cache = 0;
    const OSSL_ALGORITHM *a = OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_cache);
    OSSL_FUNC_cipher_newctx_fn *new_ctx = nullptr;
    for (; a != nullptr && a->algorithm_names != nullptr; ++a) {
      if (strncasecmp(a->algorithm_names, "ChaCha20", 8) != 0 || a->algorithm_names[8] == '-')
        continue;
      for (const OSSL_DISPATCH *f = a->implementation; f->function_id != 0; ++f) {
        if (f->function_id == OSSL_FUNC_CIPHER_NEWCTX) new_ctx = OSSL_FUNC_cipher_newctx(f);
        if (f->function_id == OSSL_FUNC_CIPHER_ENCRYPT_INIT)
          init = OSSL_FUNC_cipher_encrypt_init(f);
        if (f->function_id == OSSL_FUNC_CIPHER_UPDATE) update = OSSL_FUNC_cipher_update(f);
      }
      break;
    }
    if (new_ctx == nullptr || init == nullptr || update == nullptr) Die("ChaCha20 dispatch");
    ctx = new_ctx(OSSL_PROVIDER_get0_provider_ctx(prov));
  }
};

ProviderChaCha &Chacha() {
  static ProviderChaCha c;
  return c;
}

alignas(64) uint8_t g_key[32];
alignas(64) const uint8_t kZeros[16384] = {};
const uint8_t kIv[16] = {};
alignas(64) uint8_t g_out[16384 + 64];
// Slices for the refill parts (header + data), as the slab lays them out.
alignas(4096) uint8_t g_small[1024];
alignas(4096) uint8_t g_hot[16384];

std::atomic<void *> g_pool_slot{&g_pool_slot};
std::atomic<uint64_t> g_counter_a, g_counter_b, g_counter_c, g_counter_d;
// 32 hot-slice headers, each in its own 16 KiB, flushed before each scan.
uint8_t *g_hot_headers = nullptr;

grndpool::SliceHeader *Slice(uint8_t *at) {
  return reinterpret_cast<grndpool::SliceHeader *>(at);
}

// Each part: one call, returning something so it is not dropped.
[[gnu::noinline]] uint32_t PartRefillSmall() {
  grndpool::RefillSlice(Slice(g_small), 1024 - 64, grndpool::Stamp{});
  return g_small[100];
}
[[gnu::noinline]] uint32_t PartRefillHot() {
  grndpool::RefillSlice(Slice(g_hot), 16384 - 64, grndpool::Stamp{});
  return g_hot[100];
}
template <size_t kLen>
[[gnu::noinline]] uint32_t PartKeystream() {
  grndpool::CurrentProcess().kernel->fill(g_key, sizeof g_key);
  if (!grndpool::Keystream(g_key, g_out, kLen)) Die("Keystream");
  return g_out[kLen - 1];
}
[[gnu::noinline]] uint32_t PartKernelKey() {
  grndpool::CurrentProcess().kernel->fill(g_key, sizeof g_key);
  return g_key[0];
}
[[gnu::noinline]] uint32_t PartGenerationLabel() {
  return static_cast<uint32_t>(grndpool::StampForFill(grndpool::Stamp{}).label);
}
[[gnu::noinline]] uint32_t PartCipherInit() {
  return static_cast<uint32_t>(Chacha().init(Chacha().ctx, g_key, 32, kIv, 16, nullptr));
}
template <size_t kLen>
[[gnu::noinline]] uint32_t PartCipherUpdate() {
  size_t written = 0;
  Chacha().update(Chacha().ctx, g_out, &written, kLen, kZeros, kLen);
  return g_out[kLen - 1];
}
[[gnu::noinline]] uint32_t PartWipeRegisters() {
  grndpool::WipeRegisters();
  return 0;
}
template <size_t kBytes>
[[gnu::noinline]] uint32_t PartScrub() {
  grndpool::ScrubStackBelow(kBytes);
  return 0;
}
[[gnu::noinline]] uint32_t PartPoolTakeReturn() {
  void *ctx = g_pool_slot.exchange(nullptr, std::memory_order_acquire);
  g_pool_slot.store(ctx, std::memory_order_release);
  return ctx != nullptr;
}
[[gnu::noinline]] uint32_t PartCounters() {
  g_counter_a.fetch_add(960, std::memory_order_relaxed);
  g_counter_b.fetch_add(0, std::memory_order_relaxed);
  g_counter_c.fetch_add(1, std::memory_order_relaxed);
  g_counter_d.fetch_add(1, std::memory_order_relaxed);
  return 0;
}
[[gnu::noinline]] uint32_t PartCoarseClock() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_nsec);
}
// What a failed ClaimHotSlice costs when the 32 headers are not in this
// core's cache (the flush is not timed apart: see PartFlush32).
[[gnu::noinline]] uint32_t PartHotScanCold() {
  for (int i = 0; i < 32; ++i) _mm_clflush(g_hot_headers + i * 16384);
  _mm_mfence();
  uint32_t any = 0;
  for (int i = 0; i < 32; ++i)
    any |= reinterpret_cast<std::atomic<uint32_t> *>(g_hot_headers + i * 16384 + 8)
               ->load(std::memory_order_relaxed);
  return any;
}
[[gnu::noinline]] uint32_t PartFlush32() {
  for (int i = 0; i < 32; ++i) _mm_clflush(g_hot_headers + i * 16384);
  _mm_mfence();
  return 0;
}
// A small refill into a slice that is not in this core's cache (its 16 lines
// flushed first), as after the thread was descheduled for a while.
[[gnu::noinline]] uint32_t PartRefillSmallCold() {
  for (int i = 0; i < 1024; i += 64) _mm_clflush(g_small + i);
  _mm_mfence();
  return PartRefillSmall();
}
[[gnu::noinline]] uint32_t PartFlushSmall() {
  for (int i = 0; i < 1024; i += 64) _mm_clflush(g_small + i);
  _mm_mfence();
  return 0;
}

struct Part {
  Part(const char *n, uint32_t (*c)()) : name(n), call(c) {}
  const char *name;
  uint32_t (*call)();
  uint64_t calls = 0;
  std::vector<double> ns;
  std::vector<int> preempted;
};

void RunParts(int rounds, double block_us) {
  g_hot_headers = static_cast<uint8_t *>(aligned_alloc(4096, 32 * 16384));
  memset(g_hot_headers, 0, 32 * 16384);
  std::vector<Part> parts = {
      {"refill-small (RefillSlice, 960 B)", PartRefillSmall},
      {"refill-small, slice cold", PartRefillSmallCold},
      {"  (flush of the 16 lines alone)", PartFlushSmall},
      {"refill-hot (RefillSlice, 16320 B)", PartRefillHot},
      {"key + Keystream 960 B", PartKeystream<960>},
      {"key + Keystream 16320 B", PartKeystream<16320>},
      {"key + Keystream 4032 B", PartKeystream<4032>},
      {"kernel key, 32 B (kernel->fill)", PartKernelKey},
      {"generation label (StampForFill)", PartGenerationLabel},
      {"cipher keying (provider einit)", PartCipherInit},
      {"cipher update 64 B", PartCipherUpdate<64>},
      {"cipher update 960 B", PartCipherUpdate<960>},
      {"cipher update 1024 B", PartCipherUpdate<1024>},
      {"cipher update 4032 B", PartCipherUpdate<4032>},
      {"cipher update 16320 B", PartCipherUpdate<16320>},
      {"WipeRegisters", PartWipeRegisters},
      {"ScrubStackBelow 4096", PartScrub<4096>},
      {"ScrubStackBelow 1024", PartScrub<1024>},
      {"ScrubStackBelow 512", PartScrub<512>},
      {"pool take + return (2 atomics)", PartPoolTakeReturn},
      {"4 shared counters (lock add)", PartCounters},
      {"CLOCK_MONOTONIC_COARSE", PartCoarseClock},
      {"hot-slice scan, 32 cold headers", PartHotScanCold},
      {"  (flush of the 32 lines alone)", PartFlush32},
  };
  // Warm-up and calibration: calls per block of ~block_us.
  for (Part &p : parts) {
    uint64_t calls = 4;
    double t;
    for (;;) {
      const double t0 = Now();
      for (uint64_t i = 0; i < calls; ++i) p.call();
      t = Now() - t0;
      if (t > 200e-6) break;
      calls *= 2;
    }
    p.calls = std::max<uint64_t>(1, static_cast<uint64_t>(calls * block_us * 1e-6 / t));
  }
  const size_t n = parts.size();
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      Part &p = parts[(k + r) % n];
      const long sw = InvoluntarySwitches();
      uint32_t acc = 0;
      const double t0 = Now();
      for (uint64_t i = 0; i < p.calls; ++i) acc ^= p.call();
      const double t = Now() - t0;
      __asm__ volatile("" : : "r"(acc));
      p.ns.push_back(t * 1e9 / static_cast<double>(p.calls));
      p.preempted.push_back(InvoluntarySwitches() != sw);
    }
  }
  printf(
      "refill_parts: %d rounds of ~%.0f us per part, interleaved; ns per call: best "
      "unpreempted block (how many), median\n",
      rounds, block_us);
  printf("%-40s %10s %8s %10s\n", "part", "best", "clean", "median");
  for (Part &p : parts) {
    double best = 1e300;
    int clean = 0;
    for (size_t i = 0; i < p.ns.size(); ++i)
      if (!p.preempted[i]) best = std::min(best, p.ns[i]), ++clean;
    if (clean == 0) best = *std::min_element(p.ns.begin(), p.ns.end());
    std::vector<double> s = p.ns;
    std::sort(s.begin(), s.end());
    printf("%-40s %10.1f %4d/%-3zu %10.1f\n", p.name, best, clean, p.ns.size(), s[s.size() / 2]);
  }
}

// N slices of S bytes in one buffer, visited round robin, V u32 served per
// visit (copy, zero, cursor), an empty slice refilled through the library's
// Keystream from a fresh kernel key: a thread's slice and the cipher context
// as the thread finds them when it is scheduled again, N threads later.
struct Touch {
  Touch(size_t n_, size_t slice_bytes_, size_t per_visit_)
      : n(n_), slice_bytes(slice_bytes_), per_visit(per_visit_) {
    mem = static_cast<uint8_t *>(aligned_alloc(4096, n * slice_bytes));
    memset(mem, 0, n * slice_bytes);
    avail.assign(n, 0);
    // A block: at least one round of every slice and ~1 M u32.
    visits = std::max<size_t>(n, (size_t{1} << 20) / per_visit);
    Run();  // every slice filled once
  }
  ~Touch() { free(mem); }
  // ns per u32 over one block.
  double Run() {
    const size_t cap = slice_bytes - 64;
    uint32_t acc = 0;
    uint8_t key[32];
    const double t0 = Now();
    for (size_t k = 0; k < visits; ++k) {
      const size_t i = next++ % n;
      uint8_t *data = mem + i * slice_bytes + 64;
      int32_t a = avail[i];
      for (size_t d = 0; d < per_visit; ++d) {
        if (a < 4) {
          grndpool::CurrentProcess().kernel->fill(key, sizeof key);
          grndpool::Keystream(key, data, cap);
          a = static_cast<int32_t>(cap);
        }
        a -= 4;
        uint32_t v;
        memcpy(&v, data + a, 4);
        memset(data + a, 0, 4);
        acc ^= v;
      }
      avail[i] = a;
    }
    const double t = Now() - t0;
    __asm__ volatile("" : : "r"(acc));
    return t * 1e9 / static_cast<double>(visits * per_visit);
  }
  size_t n, slice_bytes, per_visit, visits = 0, next = 0;
  uint8_t *mem = nullptr;
  std::vector<int32_t> avail;
  std::vector<double> ns;
  std::vector<int> preempted;
};

void RunTouch(int rounds) {
  const size_t ns[] = {1, 16, 256, 1024, 4096};
  struct Shape {
    size_t slice_bytes, per_visit;
  };
  // One refill per visit (1 KiB, 16 KiB slices), and ten.
  const Shape shapes[] = {{1024, 240}, {1024, 2400}, {16384, 4080}};
  std::vector<std::unique_ptr<Touch>> all;
  for (const Shape &s : shapes)
    for (size_t n : ns) all.push_back(std::make_unique<Touch>(n, s.slice_bytes, s.per_visit));
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < all.size(); ++k) {
      Touch &t = *all[(k + r) % all.size()];
      const long sw = InvoluntarySwitches();
      t.ns.push_back(t.Run());
      t.preempted.push_back(InvoluntarySwitches() != sw);
    }
  }
  printf(
      "\nrefill_parts: touch: N slices visited round robin, V u32 per visit, each refilled "
      "with a fresh key when empty; ns per u32, best unpreempted block of %d\n",
      rounds);
  printf("%-22s", "slice bytes / V");
  for (size_t n : ns) printf(" %9zu", n);
  printf("\n");
  size_t k = 0;
  for (const Shape &s : shapes) {
    printf("%6zu B / %-10zu", s.slice_bytes, s.per_visit);
    for (size_t i = 0; i < std::size(ns); ++i, ++k) {
      const Touch &t = *all[k];
      double best = 1e300, any = 1e300;
      for (size_t b = 0; b < t.ns.size(); ++b) {
        any = std::min(any, t.ns[b]);
        if (!t.preempted[b]) best = std::min(best, t.ns[b]);
      }
      printf(" %9.3f", best < 1e300 ? best : any);
    }
    printf("\n");
  }
}

// How deep below its caller's frame libcrypto's ChaCha20 writes: paint
// kPaintBytes of stack below this frame, run one keying, one update of `len`
// and the keying with zeros (what Keystream() does), and find the lowest
// painted byte that changed. Also where a copy of the key's first 8 bytes
// (a recognisable key) landed, if anywhere.
constexpr size_t kPaintBytes = 16384;
constexpr uint8_t kPaint = 0xa5;

// Returns where the painted area began (its address only; the frame is gone).
[[gnu::noinline]] uintptr_t Paint() {
  uint8_t *p = static_cast<uint8_t *>(__builtin_alloca(kPaintBytes));
  memset(p, kPaint, kPaintBytes);
  __asm__ volatile("" : : "r"(p) : "memory");
  return reinterpret_cast<uintptr_t>(p);
}

struct Depth {
  size_t written, key_at;
};

[[gnu::noinline]] Depth Probe(size_t len) {
  uint8_t key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(0x11 * (i + 1));
  const uintptr_t low = Paint();
  // The top of the painted area: just below this frame, where a callee's begins.
  const uint8_t *top = reinterpret_cast<const uint8_t *>(low + kPaintBytes);
  ProviderChaCha &c = Chacha();
  size_t written = 0;
  c.init(c.ctx, key, 32, kIv, 16, nullptr);
  c.update(c.ctx, g_out, &written, len, kZeros, len);
  static const uint8_t zero_key[32] = {};
  c.init(c.ctx, zero_key, 32, kIv, 16, nullptr);
  Depth d{0, 0};
  for (size_t off = kPaintBytes; off > 0; --off) {
    if (top[-static_cast<ptrdiff_t>(off)] != kPaint) {
      d.written = off;
      break;
    }
  }
  for (size_t off = 8; off <= kPaintBytes; ++off)
    if (memcmp(top - off, key, 8) == 0) d.key_at = std::max(d.key_at, off);
  explicit_bzero(key, sizeof key);
  return d;
}

void RunStack() {
  printf(
      "\nrefill_parts: stack: bytes below the caller's frame that libcrypto's ChaCha20 "
      "(keying, update, keying with zeros) wrote, and the deepest copy of the key found\n");
  printf("%-12s %14s %14s\n", "update bytes", "deepest write", "key copy at");
  for (size_t len : {64, 960, 1024, 4032, 16320}) {
    Depth worst{0, 0};
    for (int r = 0; r < 5; ++r) {
      const Depth d = Probe(len);
      worst.written = std::max(worst.written, d.written);
      worst.key_at = std::max(worst.key_at, d.key_at);
    }
    printf("%-12zu %14zu %14zu\n", len, worst.written, worst.key_at);
  }
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  int rounds = 31;
  // Steady state: the keystream from the first refill (it would start after
  // 256 KiB anyway), unless the caller chose otherwise.
  setenv("GRNDPOOL_CHACHA20_AFTER", "0", 0);
  double block_us = 400;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--block-us") == 0 && i + 1 < argc) {
      block_us = std::max(10.0, atof(argv[++i]));
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--rounds R] [--block-us US] [--only parts|stack|touch]\n",
              argv[0]);
      return 2;
    }
  }
  fprintf(stderr, "refill_parts: %s\n",
          grndpool_describe());  // start-up: the kernel path, libcrypto
  double load = -1;
  if (FILE *f = fopen("/proc/loadavg", "r")) {
    if (fscanf(f, "%lf", &load) != 1) load = -1;
    fclose(f);
  }
  printf("refill_parts: load average %.2f at start\n", load);
  if (only.empty() || only == "parts") grndpool_bench::RunParts(rounds, block_us);
  if (only.empty() || only == "stack") grndpool_bench::RunStack();
  if (only.empty() || only == "touch") grndpool_bench::RunTouch(std::max(3, rounds / 2));
  return 0;
}
