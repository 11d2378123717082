// SPDX-License-Identifier: Apache-2.0
// u32_rounds: single-thread u32 draws from grndpool_u32() and its peers, two ways,
// in one process so every ratio compares numbers measured side by side (plus
// grndpool_buf of 16 B and 4 KiB, for the size ratios).
//
//   rounds  mean ns per draw: each round runs every source for one block of
//           ~--block-ms, in a rotated order; the median block over the rounds
//           is reported, so a drift of the VM's speed hits every source alike.
//   scaling aggregate draws per second with 2 threads over 1 thread, for the
//           sources marked so, each round measuring 1 then 2 threads (or 2
//           then 1) back to back; the median over the rounds.
//   tail    each draw timed on its own with rdtscp (lfence after each read),
//           refills included; p50/p99/p99.9/p99.99/max in TSC cycles, in
//           interleaved chunks. "timer" is the empty call: the floor.
//
//   u32_rounds [--rounds R] [--block-ms MS] [--scaling-rounds R] [--scaling-block-ms MS]
//              [--tail-samples N] [--json PATH]
//
// Each draw is a direct call (the loop is a template on the function), so a
// source pays one call per draw, like grndpool_u32(); the *-inline prototype
// pays none, which is the point of measuring it.
#include <sched.h>
#include <sys/resource.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "kernel_paths.h"
#include "peers.h"
#include "proto_tls_buffer.h"

#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

struct Options {
  int rounds = 61;
  double block_ms = 2;
  int scaling_rounds = 25;
  double scaling_block_ms = 10;
  uint64_t tail_samples = 4'000'000;
  std::string json;
};

VdsoGetrandom *g_vdso = nullptr;

uint32_t VdsoU32() {
  uint32_t v;
  g_vdso->Fill(&v, sizeof v);
  return v;
}
uint32_t GlibcArc4random() {
  return arc4random();
}
uint32_t Proto16B() {
  uint32_t v[4];
  ProtoBuf16k(v, sizeof v);
  return v[0] ^ v[3];
}
// 16 KiB of keystream per call: kKeystreamLimitCallBytes / 4 u32 draws.
uint32_t KeystreamLimit() {
  KeystreamLimitCall(nullptr, 0);
  return 0;
}
[[gnu::noinline]] uint32_t EmptyCall() {
  __asm__ volatile("");
  return 0;
}

using Block = double (*)(uint64_t calls);  // returns seconds
using Tail = void (*)(uint64_t samples, std::vector<uint64_t> *hist, uint64_t *max);

struct U32Source {
  std::string name;
  std::string kind;       // "grndpool", "peer", "limit", "prototype", "timer"
  Block block = nullptr;  // nullptr: not in the rounds (unless `indirect` is set)
  // Rounds only: drawn through this pointer, 4 bytes at a time (the other
  // grndpool strategies and the peers only known at run time).
  void (*indirect)(void *out, size_t n) = nullptr;
  Tail tail = nullptr;  // nullptr: not in the tail
  size_t bytes_per_draw = 4;
  double draws_per_call = 1;
  uint64_t calls_per_block = 0;  // calibrated
  std::vector<double> ns_per_draw;
  std::vector<int> preempted;   // per round: 1 when the process was switched out
  bool scale = false;           // in the 1 -> 2 thread scaling rounds
  uint64_t scaling_calls = 0;   // per thread and block, calibrated
  std::vector<double> scaling;  // 2-thread draws/s over 1-thread draws/s, per round
  std::vector<double> one_thread_ns, two_thread_ns;  // ns per draw, all threads together
  std::vector<int> one_thread_preempted, two_thread_preempted;
  std::vector<uint64_t> hist;
  uint64_t tail_max = 0;
  uint64_t tail_samples = 0;
};

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double TimeIndirect(void (*draw)(void *, size_t), uint64_t calls) {
  uint32_t acc = 0;
  const double t0 = Seconds();
  for (uint64_t i = 0; i < calls; ++i) {
    uint32_t v;
    draw(&v, sizeof v);
    acc ^= v;
  }
  const double s = Seconds() - t0;
  __asm__ volatile("" : : "r"(acc));
  return s;
}

template <uint32_t (*kDraw)()>
double TimeBlock(uint64_t calls) {
  uint32_t acc = 0;
  const double t0 = Seconds();
  for (uint64_t i = 0; i < calls; ++i) acc ^= kDraw();
  const double s = Seconds() - t0;
  __asm__ volatile("" : : "r"(acc));
  return s;
}

// Cycles past 1<<20 (~0.4 ms here) land in the last bucket; max is exact.
constexpr size_t kHistBuckets = size_t{1} << 20;

template <uint32_t (*kDraw)()>
void TimeEach(uint64_t samples, std::vector<uint64_t> *hist, uint64_t *max) {
  uint32_t acc = 0;
  unsigned aux;
  uint64_t *h = hist->data();
  uint64_t top = *max;
  for (uint64_t i = 0; i < samples; ++i) {
    const uint64_t t0 = __rdtscp(&aux);
    _mm_lfence();
    acc ^= kDraw();
    const uint64_t t1 = __rdtscp(&aux);
    _mm_lfence();
    const uint64_t d = t1 - t0;
    top = std::max(top, d);
    ++h[std::min<uint64_t>(d, kHistBuckets - 1)];
  }
  *max = top;
  __asm__ volatile("" : : "r"(acc));
}

template <uint32_t (*kDraw)()>
U32Source Make(const char *name, const char *kind, bool rounds, bool tail,
               size_t bytes_per_draw = 4, double draws_per_call = 1, bool scale = false) {
  U32Source s;
  s.name = name;
  s.kind = kind;
  s.block = rounds ? TimeBlock<kDraw> : nullptr;
  s.tail = tail ? TimeEach<kDraw> : nullptr;
  s.bytes_per_draw = bytes_per_draw;
  s.draws_per_call = draws_per_call;
  s.scale = scale;
  return s;
}

std::vector<U32Source> Sources(std::vector<std::string> *skipped) {
  std::vector<U32Source> out;
  // grndpool_u32() as a C or C++ caller gets it (the header's inline draw), and
  // the exported function through the PLT (what FFI and dlsym callers pay).
  out.push_back(Make<GrndpoolU32Inline>("grndpool_u32", "grndpool", true, true, 4, 1, true));
  out.push_back(Make<grndpool_u32_outline>("grndpool_u32-call", "grndpool", true, true));
  std::string why;
  if (RustPeersBuilt(&why)) {
    out.push_back(Make<RustThreadRngU32>("rust-threadrng", "peer", true, true));
    out.push_back(
        Make<RustThreadRngHeldU32>("rust-threadrng-held", "peer", true, true, 4, 1, true));
  } else {
    skipped->push_back("rust-threadrng, rust-threadrng-held: " + why);
  }
  if (g_vdso != nullptr) {
    out.push_back(Make<VdsoU32>("vdso-getrandom-4B", "peer", true, true));
  } else {
    skipped->push_back("vdso-getrandom-4B: no vDSO getrandom on this kernel");
  }
  out.push_back(Make<GlibcArc4random>("glibc-arc4random", "peer", true, false));
  out.push_back(Make<KeystreamLimit>("keystream-limit", "limit", true, false, sizeof(uint32_t),
                                     kKeystreamLimitCallBytes / sizeof(uint32_t), true));
  out.push_back(Make<Grndpool16B>("grndpool_buf-16B", "grndpool", true, false, 16));
  out.push_back(Make<Grndpool4KiB>("grndpool_buf-4KiB", "grndpool", true, false, 4096));
  out.push_back(Make<ProtoU32Call1k>("proto-1k-call", "prototype", true, true));
  out.push_back(Make<ProtoU32Call16k>("proto-16k-call", "prototype", true, true, 4, 1, true));
  out.push_back(Make<ProtoU32Inline16k>("proto-16k-inline", "prototype", true, true));
  out.push_back(Make<Proto16B>("proto-16k-call-16B", "prototype", true, false, 16));
  // The parts of a refill, per call (bytes = key or keystream bytes per call).
  out.push_back(Make<ProtoRekeyOnly>("part-evp-rekey", "anatomy", true, false, 32));
  out.push_back(Make<ProtoKeystream1056>("part-keystream-1056B", "anatomy", true, false, 1056));
  out.push_back(Make<ProtoKeystream16416>("part-keystream-16416B", "anatomy", true, false, 16416));
  out.push_back(Make<EmptyCall>("timer", "timer", false, true));

  // For the bar chart: every other strategy and peer, through a function pointer.
  auto add_indirect = [&out](const std::string &name, const char *kind,
                             void (*draw)(void *, size_t)) {
    for (const U32Source &s : out)
      if (s.name == name) return;
    U32Source s;
    s.name = name;
    s.kind = kind;
    s.indirect = draw;
    out.push_back(std::move(s));
  };
  for (grndpool::Strategy st : grndpool::kAllStrategies) {
    const grndpool::StrategyOps &ops = grndpool::StrategyFor(st);
    if (st != grndpool::Strategy::kSlab) add_indirect(ops.name, "strategy", ops.draw);
  }
  std::vector<std::string> peers_skipped;  // already reported above or by grndpool-bench
  for (const Peer &p : AvailablePeers(&peers_skipped))
    if (p.bytes_per_call == 0) add_indirect(p.name, "peer", p.draw);
  return out;
}

// Calls per block so a block takes about block_ms (after a warm-up that also
// sets up every thread-local state).
double RunBlock(const U32Source &s, uint64_t calls) {
  return s.indirect != nullptr ? TimeIndirect(s.indirect, calls) : s.block(calls);
}

void Calibrate(U32Source &s, double block_ms) {
  uint64_t calls = 64;
  double t = 0;
  while ((t = RunBlock(s, calls)) < 2e-3) calls *= 4;
  s.calls_per_block = std::max<uint64_t>(1, static_cast<uint64_t>(calls * block_ms * 1e-3 / t));
}

// Involuntary context switches of the whole process so far: a block during
// which this moves was preempted (by another tenant of the machine, usually).
long InvoluntarySwitches() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nivcsw;
}

// Runs `timed` and records in *preempted whether the process was switched out.
template <class F>
double Watched(F timed, std::vector<int> *preempted) {
  const long before = InvoluntarySwitches();
  const double secs = timed();
  preempted->push_back(InvoluntarySwitches() != before);
  return secs;
}

// A second thread that runs one block when told to, for the scaling rounds.
// It sleeps in a futex wait between blocks, so it takes no core while idle.
class Partner {
 public:
  Partner() : thread_([this] { Loop(); }) {}
  ~Partner() {
    Start(nullptr, 0);
    thread_.join();
  }
  // Starts block(calls) on the partner; Wait() returns when it has finished.
  void Start(Block block, uint64_t calls) {
    block_ = block;
    calls_ = calls;
    done_.store(false, std::memory_order_relaxed);
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_one();
  }
  void Wait() {
    while (!done_.load(std::memory_order_acquire)) done_.wait(false, std::memory_order_acquire);
  }

 private:
  void Loop() {
    uint32_t seen = 0;
    for (;;) {
      go_.wait(seen, std::memory_order_acquire);
      seen = go_.load(std::memory_order_acquire);
      if (block_ == nullptr) return;
      block_(calls_);
      done_.store(true, std::memory_order_release);
      done_.notify_one();
    }
  }
  std::atomic<uint32_t> go_{0};
  std::atomic<bool> done_{false};
  Block block_ = nullptr;
  uint64_t calls_ = 0;
  std::thread thread_;  // last: starts after the fields above exist
};

// Seconds for two threads to run block(calls) each, from the start of the first.
double TwoThreads(Partner &partner, Block block, uint64_t calls) {
  const double t0 = Seconds();
  partner.Start(block, calls);
  block(calls);
  partner.Wait();
  return Seconds() - t0;
}

void MeasureScaling(std::vector<U32Source> &sources, const Options &o) {
  Partner partner;
  std::vector<U32Source *> scaled;
  for (U32Source &s : sources) {
    if (!s.scale || !s.block) continue;
    // Sized from the one-thread rate; the warm-up sets up the partner's state.
    s.scaling_calls = std::max<uint64_t>(
        1, static_cast<uint64_t>(s.calls_per_block * o.scaling_block_ms / o.block_ms));
    TwoThreads(partner, s.block, std::max<uint64_t>(1, s.scaling_calls / 10));
    scaled.push_back(&s);
  }
  const size_t n = scaled.size();
  for (int r = 0; r < o.scaling_rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      U32Source &s = *scaled[(k + r) % n];
      double one, two;
      auto run_one = [&] { return s.block(s.scaling_calls); };
      auto run_two = [&] { return TwoThreads(partner, s.block, s.scaling_calls); };
      if (r % 2 == 0) {
        one = Watched(run_one, &s.one_thread_preempted);
        two = Watched(run_two, &s.two_thread_preempted);
      } else {
        two = Watched(run_two, &s.two_thread_preempted);
        one = Watched(run_one, &s.one_thread_preempted);
      }
      s.scaling.push_back(2 * one / two);  // (2 calls / two) / (calls / one)
      const double draws = static_cast<double>(s.scaling_calls) * s.draws_per_call;
      s.one_thread_ns.push_back(one * 1e9 / draws);
      s.two_thread_ns.push_back(two * 1e9 / (2 * draws));
    }
  }
}

// The 1-minute load average, from /proc/loadavg; -1 when unreadable.
double LoadAverage() {
  double load = -1;
  if (FILE *f = fopen("/proc/loadavg", "r")) {
    if (fscanf(f, "%lf", &load) != 1) load = -1;
    fclose(f);
  }
  return load;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t Percentile(const U32Source &s, double p) {
  const uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(s.tail_samples));
  uint64_t seen = 0;
  for (size_t c = 0; c < s.hist.size(); ++c) {
    seen += s.hist[c];
    if (seen > rank) return c == kHistBuckets - 1 ? s.tail_max : c;
  }
  return s.tail_max;
}

// TSC ticks per ns, against the steady clock over ~50 ms.
double TscPerNs() {
  unsigned aux;
  const double t0 = Seconds();
  const uint64_t c0 = __rdtscp(&aux);
  while (Seconds() - t0 < 0.05) {
  }
  const uint64_t c1 = __rdtscp(&aux);
  const double t1 = Seconds();
  return static_cast<double>(c1 - c0) / ((t1 - t0) * 1e9);
}

constexpr double kPercentiles[] = {0.5, 0.99, 0.999, 0.9999};
constexpr const char *kPercentileNames[] = {"p50", "p99", "p99.9", "p99.99"};

int Run(const Options &o) {
  // Initialises grndpool now, so its start-up is in no block.
  fprintf(stderr, "u32_rounds: %s\n", grndpool_describe());
  VdsoGetrandom vdso;
  if (vdso.available()) g_vdso = &vdso;
  std::vector<std::string> skipped;
  std::vector<U32Source> sources = Sources(&skipped);
  for (const std::string &s : skipped) fprintf(stderr, "u32_rounds: skipped %s\n", s.c_str());
  const double load_start = LoadAverage();

  for (U32Source &s : sources)
    if (s.block || s.indirect) Calibrate(s, o.block_ms);
  const size_t n = sources.size();
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      U32Source &s = sources[(k + r) % n];  // rotated: no source always runs first
      if (!s.block && !s.indirect) continue;
      const double secs = Watched([&] { return RunBlock(s, s.calls_per_block); }, &s.preempted);
      s.ns_per_draw.push_back(secs * 1e9 / (s.calls_per_block * s.draws_per_call));
    }
  }

  MeasureScaling(sources, o);

  // Tail: chunks of 250k samples, interleaved, until tail_samples per source.
  const uint64_t chunk = std::min<uint64_t>(250'000, std::max<uint64_t>(o.tail_samples, 1));
  for (U32Source &s : sources)
    if (s.tail) s.hist.assign(kHistBuckets, 0);
  for (uint64_t done = 0; done < o.tail_samples; done += chunk) {
    const uint64_t now = std::min(chunk, o.tail_samples - done);
    for (U32Source &s : sources) {
      if (!s.tail) continue;
      s.tail(now, &s.hist, &s.tail_max);
      s.tail_samples += now;
    }
  }
  const double tsc_per_ns = TscPerNs();
  const double load_end = LoadAverage();
  printf("u32_rounds: load average %.2f at start, %.2f at end\n", load_start, load_end);

  printf(
      "u32_rounds: %d rounds of ~%.1f ms per source, interleaved; ns per draw: median of the "
      "rounds, best round, best round the process was not preempted in (how many)\n",
      o.rounds, o.block_ms);
  printf("%-24s %-10s %6s %10s %10s %10s %8s\n", "source", "kind", "bytes", "median", "best",
         "best-clean", "clean");
  for (const U32Source &s : sources) {
    if (!s.block && !s.indirect) continue;
    double best_clean = 0;
    int clean = 0;
    for (size_t r = 0; r < s.ns_per_draw.size(); ++r) {
      if (s.preempted[r]) continue;
      best_clean = clean++ ? std::min(best_clean, s.ns_per_draw[r]) : s.ns_per_draw[r];
    }
    printf("%-24s %-10s %6zu %10.3f %10.3f %10.3f %4d/%-3zu\n", s.name.c_str(), s.kind.c_str(),
           s.bytes_per_draw, Median(s.ns_per_draw),
           *std::min_element(s.ns_per_draw.begin(), s.ns_per_draw.end()), best_clean, clean,
           s.ns_per_draw.size());
  }
  printf(
      "\nu32_rounds: 1 -> 2 thread scaling, %d rounds of ~%.0f ms per thread count; "
      "aggregate draws/s with 2 threads over 1 thread (2.0 = perfect on 2 free cores)\n",
      o.scaling_rounds, o.scaling_block_ms);
  printf("%-24s %10s %10s %10s\n", "source", "median", "min", "max");
  for (const U32Source &s : sources) {
    if (s.scaling.empty()) continue;
    const auto [lo, hi] = std::minmax_element(s.scaling.begin(), s.scaling.end());
    printf("%-24s %10.3f %10.3f %10.3f\n", s.name.c_str(), Median(s.scaling), *lo, *hi);
  }
  printf(
      "\nu32_rounds: tail, %llu draws per source timed one by one with rdtscp, in TSC cycles "
      "(%.3f cycles/ns)\n",
      static_cast<unsigned long long>(o.tail_samples), tsc_per_ns);
  printf("%-24s %8s %8s %8s %8s %10s\n", "source", "p50", "p99", "p99.9", "p99.99", "max");
  for (const U32Source &s : sources) {
    if (!s.tail) continue;
    printf("%-24s", s.name.c_str());
    for (double p : kPercentiles)
      printf(" %8llu", static_cast<unsigned long long>(Percentile(s, p)));
    printf(" %10llu\n", static_cast<unsigned long long>(s.tail_max));
  }

  if (!o.json.empty()) {
    FILE *f = fopen(o.json.c_str(), "w");
    if (f == nullptr) {
      perror(o.json.c_str());
      return 1;
    }
    fprintf(f, "{\"rounds\": %d, \"block_ms\": %g, \"tail_samples\": %llu, \"tsc_per_ns\": %.6f,\n",
            o.rounds, o.block_ms, static_cast<unsigned long long>(o.tail_samples), tsc_per_ns);
    fprintf(f, " \"scaling_rounds\": %d, \"scaling_block_ms\": %g,\n", o.scaling_rounds,
            o.scaling_block_ms);
    fprintf(f, " \"loadavg_start\": %.2f, \"loadavg_end\": %.2f,\n", load_start, load_end);
    fprintf(f, " \"describe\": \"%s\",\n \"sources\": [\n", grndpool_describe());
    for (size_t i = 0; i < n; ++i) {
      const U32Source &s = sources[i];
      fprintf(f, "  {\"name\": \"%s\", \"kind\": \"%s\", \"bytes_per_draw\": %zu", s.name.c_str(),
              s.kind.c_str(), s.bytes_per_draw);
      if (s.block || s.indirect) {
        fprintf(f, ", \"ns_per_draw_median\": %.6f, \"ns_per_draw_rounds\": [",
                Median(s.ns_per_draw));
        for (size_t r = 0; r < s.ns_per_draw.size(); ++r)
          fprintf(f, "%s%.6f", r ? ", " : "", s.ns_per_draw[r]);
        fprintf(f, "]");
        fprintf(f, ", \"preempted_rounds\": [");
        for (size_t r = 0; r < s.preempted.size(); ++r)
          fprintf(f, "%s%d", r ? ", " : "", s.preempted[r]);
        fprintf(f, "]");
      }
      if (!s.scaling.empty()) {
        fprintf(f, ", \"scaling_2_over_1_median\": %.6f", Median(s.scaling));
        const std::pair<const char *, const std::vector<double> *> series[] = {
            {"scaling_2_over_1_rounds", &s.scaling},
            {"scaling_1_thread_ns_rounds", &s.one_thread_ns},
            {"scaling_2_threads_aggregate_ns_rounds", &s.two_thread_ns}};
        for (const auto &[key, values] : series) {
          fprintf(f, ", \"%s\": [", key);
          for (size_t r = 0; r < values->size(); ++r)
            fprintf(f, "%s%.6f", r ? ", " : "", (*values)[r]);
          fprintf(f, "]");
        }
        const std::pair<const char *, const std::vector<int> *> flags[] = {
            {"scaling_1_thread_preempted", &s.one_thread_preempted},
            {"scaling_2_threads_preempted", &s.two_thread_preempted}};
        for (const auto &[key, values] : flags) {
          fprintf(f, ", \"%s\": [", key);
          for (size_t r = 0; r < values->size(); ++r)
            fprintf(f, "%s%d", r ? ", " : "", (*values)[r]);
          fprintf(f, "]");
        }
      }
      if (s.tail) {
        fprintf(f, ", \"tail_cycles\": {");
        for (size_t p = 0; p < std::size(kPercentiles); ++p)
          fprintf(f, "\"%s\": %llu, ", kPercentileNames[p],
                  static_cast<unsigned long long>(Percentile(s, kPercentiles[p])));
        fprintf(f, "\"max\": %llu}", static_cast<unsigned long long>(s.tail_max));
      }
      fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, " ]}\n");
    fclose(f);
  }
  return 0;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  grndpool_bench::Options o;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (strcmp(argv[i], "--rounds") == 0 && has_value) {
      o.rounds = std::max(1, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--block-ms") == 0 && has_value) {
      o.block_ms = std::max(0.1, atof(argv[++i]));
    } else if (strcmp(argv[i], "--scaling-rounds") == 0 && has_value) {
      o.scaling_rounds = std::max(0, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--scaling-block-ms") == 0 && has_value) {
      o.scaling_block_ms = std::max(0.1, atof(argv[++i]));
    } else if (strcmp(argv[i], "--tail-samples") == 0 && has_value) {
      o.tail_samples = std::max<uint64_t>(1, strtoull(argv[++i], nullptr, 0));
    } else if (strcmp(argv[i], "--json") == 0 && has_value) {
      o.json = argv[++i];
    } else {
      fprintf(
          stderr,
          "usage: %s [--rounds R] [--block-ms MS] [--scaling-rounds R] [--scaling-block-ms MS]\n"
          "          [--tail-samples N] [--json PATH]\n",
          argv[0]);
      return 2;
    }
  }
  return grndpool_bench::Run(o);
}
