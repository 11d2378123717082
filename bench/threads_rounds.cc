// SPDX-License-Identifier: Apache-2.0
// threads_rounds: aggregate draws per second at 1..4096 threads, every source
// interleaved in the same rounds, so each ratio at a thread count compares
// blocks measured side by side (like u32_rounds, for many threads).
//
// For each thread count N (one phase), N threads are started once (small
// stacks: --stack-kib) and kept for the phase. A warm-up block per source
// sets up every thread's state (grndpool slice claims and hot-slice moves,
// Rust's ThreadRng, cipher contexts) and sizes the source's blocks from its
// rate at this thread count. Then, --rounds times, every source runs
// one block in an order rotated each round: all N threads are woken (futex),
// each makes the same number of draws, and the block ends when the last one
// is done. A block records its wall time, the CPU time the process got
// (getrusage: all threads) and, for grndpool sources, grndpool_stats deltas.
//
// Each thread does a fixed amount of work, as in grndpool-bench: with N far
// above the core count every thread still runs its share in every block (the
// scheduler runs them one after another), so every thread's slice is used.
// A block lasts ~max(--block-ms, N x --per-thread-us), so the wake-up of N
// threads stays a small part of it.
//
// A block is *clean* when the process got at least --clean-share of the cores
// it could use (min(N, cores)): CPU time / (wall x min(N, cores)). Other
// tenants only ever take cores away, so the best clean block is the
// reproducible estimate of a source's aggregate rate, as u32_rounds' best
// unpreempted round is for one thread. Draws per CPU-second (draws over the
// CPU time the process got) is shown beside it: it does not depend on how
// much of the machine the process was given.
//
// Sources: grndpool_u32 (the header's inline draw), the held ThreadRng and
// rand::random, keystream-limit, xorshift-floor (what the harness and the
// scheduler cost alone), grndpool_buf(16) and the held fill_bytes(16), and
// the prototypes of threads_protos.h.
//
//   threads_rounds [--threads 1,2,16,64,256,1024,4096] [--rounds 7] [--block-ms 20]
//                  [--per-thread-us 200] [--stack-kib 256] [--clean-share 0.9]
//                  [--sources a,b,...] [--json FILE]
#include <linux/futex.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/strategies/registry.h"
#include "peers.h"
#include "proc_self.h"
#include "threads_protos.h"

namespace grndpool_bench {
namespace {

struct Options {
  std::vector<int> threads = {1, 2, 16, 64, 256, 1024, 4096};
  int rounds = 7;
  double block_ms = 20;
  double per_thread_us = 200;
  size_t stack_kib = 256;
  double clean_share = 0.9;
  std::vector<std::string> only;  // empty: every source
  std::string json;
};

using RunFn = uint32_t (*)(uint64_t calls);

struct Source {
  const char *name;
  const char *kind;  // "grndpool", "peer", "limit", "floor", "prototype"
  size_t bytes_per_draw;
  double draws_per_call;
  RunFn run;
  bool extra = false;      // only when named with --sources
  double calls_per_s = 0;  // one thread, calibrated
};

template <uint32_t (*kDraw)()>
uint32_t RunLoop(uint64_t calls) {
  uint32_t acc = 0;
  for (uint64_t i = 0; i < calls; ++i) acc ^= kDraw();
  return acc;
}

uint32_t KeystreamLimit() {
  KeystreamLimitCall(nullptr, 0);
  return 0;
}

uint32_t ThreadRngKeystreamLimit() {
  RustThreadRngKeystreamCall();
  return 0;
}

// Not random output: a xorshift64 step on a thread-local word, about a
// nanosecond and no memory beyond one cache line. Its rate against threads is
// what the harness and the scheduler cost by themselves (waking N threads,
// switching between them, their cold stacks): the part of any source's loss
// at high thread counts that no RNG design can remove.
thread_local uint64_t t_xorshift [[gnu::tls_model("initial-exec")]] = 0x9e3779b97f4a7c15u;
uint32_t XorshiftFloor() {
  uint64_t x = t_xorshift;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  t_xorshift = x;
  return static_cast<uint32_t>(x);
}

// The per-cpu strategy through its table entry (only with --sources: the
// entry's start-up, fork and in-draw checks and register wipe are most of its
// cost). Its cost as a process's strategy is grndpool_u32 itself in a run
// under GRNDPOOL_STRATEGY=per-cpu.
uint32_t PerCpuU32() {
  uint32_t v;
  grndpool::StrategyFor(grndpool::Strategy::kPerCpu).draw(&v, sizeof v);
  return v;
}
uint32_t PerCpu16B() {
  uint32_t v[4];
  grndpool::StrategyFor(grndpool::Strategy::kPerCpu).draw(v, sizeof v);
  return v[0] ^ v[3];
}

std::vector<Source> AllSources(std::vector<std::string> *skipped) {
  std::vector<Source> out;
  out.push_back({"grndpool_u32", "grndpool", 4, 1, RunLoop<GrndpoolU32Inline>});
  std::string why;
  if (RustPeersBuilt(&why)) {
    out.push_back({"rust-threadrng-held", "peer", 4, 1, RunLoop<RustThreadRngHeldU32>});
    out.push_back({"rust-threadrng", "peer", 4, 1, RunLoop<RustThreadRngU32>});
  } else {
    skipped->push_back("rust-threadrng, rust-threadrng-held, rust-threadrng-held-16B: " + why);
  }
  out.push_back(
      {"keystream-limit", "limit", 4, kKeystreamLimitCallBytes / 4.0, RunLoop<KeystreamLimit>});
  out.push_back({"xorshift-floor", "floor", 4, 1, RunLoop<XorshiftFloor>});
  out.push_back({"grndpool_buf-16B", "grndpool", 16, 1, RunLoop<Grndpool16B>});
  if (RustPeersBuilt(&why))
    out.push_back({"rust-threadrng-held-16B", "peer", 16, 1, RunLoop<RustThreadRngHeld16B>});
  // ThreadRng's own floor (ChaCha12, its 256-byte block buffer), beside the
  // ChaCha20 keystream-limit: how much of the gap at high thread counts is
  // the cipher's rounds. Only with --sources.
  if (RustPeersBuilt(&why))
    out.push_back({"threadrng-keystream-limit", "limit", 4, kKeystreamLimitCallBytes / 4.0,
                   RunLoop<ThreadRngKeystreamLimit>, true});
  out.push_back({"grndpool-per-cpu_u32", "grndpool", 4, 1, RunLoop<PerCpuU32>, true});
  out.push_back({"grndpool-per-cpu-16B", "grndpool", 16, 1, RunLoop<PerCpu16B>, true});
  for (const ThreadsProto &p : ThreadsProtos())
    out.push_back({p.name, "prototype", p.bytes_per_draw, 1, p.run, p.extra});
  return out;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

struct Stats {
  struct grndpool_stats s {};
  Stats() {
    s.size = sizeof s;
    grndpool_get_stats(&s);
  }
};

// Plain futex calls: std::atomic::wait spins with sched_yield before it
// sleeps, and 4096 waiters spinning made the harness itself the main cost of
// a block at high thread counts (yields and task switches in the profile).
void FutexWait(std::atomic<uint32_t> *word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}
void FutexWake(std::atomic<uint32_t> *word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
}

// N threads that run one block when told to and sleep in a futex wait between
// blocks. Every thread makes `calls` calls of the block's source.
class Pool {
 public:
  Pool(int n, size_t stack_bytes) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    threads_.reserve(n);
    for (int i = 0; i < n; ++i) {
      pthread_t t;
      if (pthread_create(&t, &attr, Main, this) != 0) break;
      threads_.push_back(t);
    }
    pthread_attr_destroy(&attr);
  }
  ~Pool() {
    Block(nullptr, 0);
    for (pthread_t t : threads_) pthread_join(t, nullptr);
  }
  int size() const { return static_cast<int>(threads_.size()); }

  // Runs one block on every thread; returns its wall seconds (from the wake-up
  // to the last thread's end). A null run ends the threads.
  double Block(RunFn run, uint64_t calls) {
    run_ = run;
    calls_ = calls;
    done_.store(0, std::memory_order_relaxed);
    const double t0 = Now();
    go_.fetch_add(1, std::memory_order_release);
    FutexWake(&go_, INT32_MAX);
    if (run == nullptr) return 0;
    const uint32_t n = static_cast<uint32_t>(size());
    for (uint32_t d; (d = done_.load(std::memory_order_acquire)) != n;) FutexWait(&done_, d);
    return Now() - t0;
  }

 private:
  static void *Main(void *p) {
    static_cast<Pool *>(p)->Loop();
    return nullptr;
  }
  void Loop() {
    uint32_t seen = 0;
    uint32_t sink = 0;
    for (;;) {
      while (go_.load(std::memory_order_acquire) == seen) FutexWait(&go_, seen);
      seen = go_.load(std::memory_order_acquire);
      if (run_ == nullptr) break;
      sink ^= run_(calls_);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(size()))
        FutexWake(&done_, 1);
    }
    __asm__ volatile("" : : "r"(sink));
  }

  std::vector<pthread_t> threads_;
  std::atomic<uint32_t> go_{0};
  std::atomic<uint32_t> done_{0};
  RunFn run_ = nullptr;
  uint64_t calls_ = 0;
};

struct BlockResult {
  double wall, cpu, draws;
  bool clean;
  uint64_t refills, rekeys, shared_draws, kernel_draws, reservoir_draws;
};

struct Phase {
  int threads = 0, started = 0;
  long vmlck_kib = -1;
  uint64_t locked_bytes = 0, slab_bytes = 0, slices_in_use = 0, hot_slices_in_use = 0;
  double load_start = -1;
  std::vector<std::vector<BlockResult>> blocks;  // [source][round]
};

void Calibrate(std::vector<Source> &sources, size_t stack_bytes) {
  Pool one(1, stack_bytes);
  for (Source &s : sources) {
    uint64_t calls = 256;
    one.Block(s.run, calls);  // sets up the thread's state
    double t;
    while ((t = one.Block(s.run, calls)) < 5e-3) calls *= 2;
    s.calls_per_s = static_cast<double>(calls) / t;
  }
}

Phase RunPhase(int n, std::vector<Source> &sources, const Options &o, int ncpu) {
  Phase ph;
  ph.threads = n;
  ph.load_start = LoadAverage();
  Pool pool(n, o.stack_kib * 1024);
  ph.started = pool.size();
  if (ph.started == 0) return ph;
  const double block_s = std::max(o.block_ms * 1e-3, ph.started * o.per_thread_us * 1e-6);
  std::vector<uint64_t> calls(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    // Warm-up (every thread's state set up), a quarter block from the
    // one-thread rate, then sized again from its own rate at this thread
    // count, so a source that collapses here does not stretch the phase.
    const double guess = sources[i].calls_per_s * block_s / 4;
    const uint64_t warm = std::max<uint64_t>(64, static_cast<uint64_t>(guess / ph.started));
    const double wall = pool.Block(sources[i].run, warm);
    const double rate = static_cast<double>(warm) * ph.started / std::max(wall, 1e-6);
    calls[i] = std::max<uint64_t>(16, static_cast<uint64_t>(rate * block_s / ph.started));
    pool.Block(sources[i].run, calls[i]);
  }
  ph.blocks.assign(sources.size(), {});
  const double cores = std::min(ph.started, ncpu);
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t k = 0; k < sources.size(); ++k) {
      const size_t i = (k + r) % sources.size();
      const Stats before;
      const double cpu0 = CpuSeconds();
      const double wall = pool.Block(sources[i].run, calls[i]);
      const double cpu = CpuSeconds() - cpu0;
      const Stats after;
      BlockResult b{};
      b.wall = wall;
      b.cpu = cpu;
      b.draws = static_cast<double>(calls[i]) * ph.started * sources[i].draws_per_call;
      b.clean = cpu >= o.clean_share * wall * cores;
      b.refills = after.s.refills - before.s.refills;
      b.rekeys = after.s.rekeys - before.s.rekeys;
      b.shared_draws = after.s.shared_draws - before.s.shared_draws;
      b.kernel_draws = after.s.kernel_draws - before.s.kernel_draws;
      b.reservoir_draws = after.s.reservoir_draws - before.s.reservoir_draws;
      ph.blocks[i].push_back(b);
    }
  }
  const Stats now;
  ph.vmlck_kib = VmLckKib();
  ph.locked_bytes = now.s.locked_bytes;
  ph.slab_bytes = now.s.slab_bytes;
  ph.slices_in_use = now.s.slices_in_use;
  ph.hot_slices_in_use = now.s.hot_slices_in_use;
  return ph;
}

// Best aggregate draws/s over the clean blocks (over all blocks when none was
// clean: *clean is then 0), and the best draws per CPU-second.
double BestRate(const std::vector<BlockResult> &bs, int *clean, double *per_cpu_s) {
  double best = 0, best_any = 0, cpu_best = 0;
  *clean = 0;
  for (const BlockResult &b : bs) {
    const double rate = b.draws / b.wall;
    best_any = std::max(best_any, rate);
    if (b.cpu > 0) cpu_best = std::max(cpu_best, b.draws / b.cpu);
    if (!b.clean) continue;
    ++*clean;
    best = std::max(best, rate);
  }
  *per_cpu_s = cpu_best;
  return *clean ? best : best_any;
}

std::vector<int> ParseInts(const char *text) {
  std::vector<int> out;
  for (const char *p = text; *p != '\0';) {
    out.push_back(atoi(p));
    const char *comma = strchr(p, ',');
    if (comma == nullptr) break;
    p = comma + 1;
  }
  return out;
}

std::vector<std::string> ParseNames(const char *text) {
  std::vector<std::string> out;
  std::string cur;
  for (const char *p = text;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return out;
}

void WriteJson(const Options &o, const std::vector<Source> &sources,
               const std::vector<Phase> &phases, int ncpu, double load_end) {
  FILE *f = fopen(o.json.c_str(), "w");
  if (f == nullptr) {
    perror(o.json.c_str());
    return;
  }
  fprintf(f,
          "{\"rounds\": %d, \"block_ms\": %g, \"per_thread_us\": %g, \"clean_share\": %g, "
          "\"cpus\": %d, \"loadavg_end\": %.2f,\n \"describe\": \"%s\",\n \"sources\": [",
          o.rounds, o.block_ms, o.per_thread_us, o.clean_share, ncpu, load_end,
          grndpool_describe());
  for (size_t i = 0; i < sources.size(); ++i)
    fprintf(f, "%s{\"name\": \"%s\", \"kind\": \"%s\", \"bytes_per_draw\": %zu}", i ? ", " : "",
            sources[i].name, sources[i].kind, sources[i].bytes_per_draw);
  fprintf(f, "],\n \"phases\": [\n");
  for (size_t p = 0; p < phases.size(); ++p) {
    const Phase &ph = phases[p];
    fprintf(f,
            "  {\"threads\": %d, \"started\": %d, \"loadavg_start\": %.2f, \"vmlck_kib\": %ld, "
            "\"locked_bytes\": %llu, \"slab_bytes\": %llu, \"slices_in_use\": %llu, "
            "\"hot_slices_in_use\": %llu, \"blocks\": {",
            ph.threads, ph.started, ph.load_start, ph.vmlck_kib,
            static_cast<unsigned long long>(ph.locked_bytes),
            static_cast<unsigned long long>(ph.slab_bytes),
            static_cast<unsigned long long>(ph.slices_in_use),
            static_cast<unsigned long long>(ph.hot_slices_in_use));
    for (size_t i = 0; i < ph.blocks.size(); ++i) {
      fprintf(f, "%s\n    \"%s\": [", i ? "," : "", sources[i].name);
      for (size_t r = 0; r < ph.blocks[i].size(); ++r) {
        const BlockResult &b = ph.blocks[i][r];
        fprintf(f,
                "%s{\"wall\": %.6g, \"cpu\": %.6g, \"draws\": %.0f, \"clean\": %d, "
                "\"refills\": %llu, \"rekeys\": %llu, \"shared_draws\": %llu, "
                "\"kernel_draws\": %llu, \"reservoir_draws\": %llu}",
                r ? ", " : "", b.wall, b.cpu, b.draws, b.clean ? 1 : 0,
                static_cast<unsigned long long>(b.refills),
                static_cast<unsigned long long>(b.rekeys),
                static_cast<unsigned long long>(b.shared_draws),
                static_cast<unsigned long long>(b.kernel_draws),
                static_cast<unsigned long long>(b.reservoir_draws));
      }
      fprintf(f, "]");
    }
    fprintf(f, "}}%s\n", p + 1 < phases.size() ? "," : "");
  }
  fprintf(f, " ]}\n");
  fclose(f);
}

int Run(const Options &o) {
  fprintf(stderr, "threads_rounds: %s\n", grndpool_describe());
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> skipped;
  std::vector<Source> sources = AllSources(&skipped);
  for (const std::string &s : skipped) fprintf(stderr, "threads_rounds: skipped %s\n", s.c_str());
  std::vector<Source> kept;
  for (const Source &s : sources) {
    const bool named = std::find(o.only.begin(), o.only.end(), s.name) != o.only.end();
    if (named || (o.only.empty() && !s.extra)) kept.push_back(s);
  }
  sources = kept;
  Calibrate(sources, o.stack_kib * 1024);
  std::vector<Phase> phases;
  for (int n : o.threads) {
    const double t0 = Now();
    phases.push_back(RunPhase(n, sources, o, ncpu));
    const Phase &ph = phases.back();
    fprintf(stderr, "threads_rounds: %d threads (%d started) in %.1f s, load average %.2f\n", n,
            ph.started, Now() - t0, ph.load_start);
  }
  const double load_end = LoadAverage();

  printf(
      "threads_rounds: %d rounds per thread count, sources interleaved; aggregate M draws/s, "
      "best clean block (process got >= %.0f %% of min(threads, %d) cores; '*': no clean "
      "block, best of all), clean blocks in brackets; load average at each phase's start\n",
      o.rounds, 100 * o.clean_share, ncpu);
  printf("%-26s", "source \\ threads");
  for (const Phase &ph : phases) printf(" %14d", ph.threads);
  printf("\n");
  for (size_t i = 0; i < sources.size(); ++i) {
    printf("%-26s", sources[i].name);
    for (const Phase &ph : phases) {
      if (ph.blocks.empty()) {
        printf(" %14s", "-");
        continue;
      }
      int clean;
      double per_cpu;
      const double best = BestRate(ph.blocks[i], &clean, &per_cpu);
      char cell[32];
      snprintf(cell, sizeof cell, "%.0f%s[%d]", best / 1e6, clean ? "" : "*", clean);
      printf(" %14s", cell);
    }
    printf("\n");
  }
  printf("\nM draws per CPU-second (best block; x %d cores = an idle machine's aggregate)\n", ncpu);
  for (size_t i = 0; i < sources.size(); ++i) {
    printf("%-26s", sources[i].name);
    for (const Phase &ph : phases) {
      int clean;
      double per_cpu = 0;
      if (!ph.blocks.empty()) BestRate(ph.blocks[i], &clean, &per_cpu);
      printf(" %14.0f", per_cpu / 1e6);
    }
    printf("\n");
  }
  printf(
      "\ngrndpool per phase: load average, VmLck KiB, slab bytes, slices (hot) in use; per "
      "grndpool_u32 block: refills and rekeys per 1000 draws, %% of draws past the slab "
      "budget (overflow: from the reservoir or the shared slices)\n");
  for (const Phase &ph : phases) {
    printf("%5d threads: load %.2f, VmLck %ld KiB, slab %llu B, slices %llu (%llu hot)", ph.threads,
           ph.load_start, ph.vmlck_kib, static_cast<unsigned long long>(ph.slab_bytes),
           static_cast<unsigned long long>(ph.slices_in_use),
           static_cast<unsigned long long>(ph.hot_slices_in_use));
    for (size_t i = 0; i < sources.size() && !ph.blocks.empty(); ++i) {
      if (strcmp(sources[i].kind, "grndpool") != 0) continue;
      double draws = 0, refills = 0, rekeys = 0, shared = 0, reservoir = 0;
      for (const BlockResult &b : ph.blocks[i]) {
        draws += b.draws * sources[i].bytes_per_draw / 4;  // in u32 units for the shared share
        refills += b.refills;
        rekeys += b.rekeys;
        shared += b.shared_draws * sources[i].bytes_per_draw / 4.0;
        reservoir += b.reservoir_draws * sources[i].bytes_per_draw / 4.0;
      }
      printf("; %s: %.2f refills, %.2f rekeys /1000, %.1f %% overflow (%.1f %% reservoir)",
             sources[i].name, 1000 * refills / draws * sources[i].bytes_per_draw / 4,
             1000 * rekeys / draws * sources[i].bytes_per_draw / 4,
             100 * (shared + reservoir) / draws, 100 * reservoir / draws);
    }
    printf("\n");
  }
  printf("load average at end %.2f\n", load_end);
  if (!o.json.empty()) WriteJson(o, sources, phases, ncpu, load_end);
  return 0;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  grndpool_bench::Options o;
  // Steady state: the keystream from the first refill (it would start after
  // 256 KiB anyway), unless the caller chose otherwise.
  setenv("GRNDPOOL_CHACHA20_AFTER", "0", 0);
  for (int i = 1; i < argc; ++i) {
    const bool v = i + 1 < argc;
    if (strcmp(argv[i], "--threads") == 0 && v) {
      o.threads = grndpool_bench::ParseInts(argv[++i]);
    } else if (strcmp(argv[i], "--rounds") == 0 && v) {
      o.rounds = std::max(1, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--block-ms") == 0 && v) {
      o.block_ms = std::max(0.5, atof(argv[++i]));
    } else if (strcmp(argv[i], "--per-thread-us") == 0 && v) {
      o.per_thread_us = std::max(1.0, atof(argv[++i]));
    } else if (strcmp(argv[i], "--stack-kib") == 0 && v) {
      o.stack_kib = std::max<size_t>(64, strtoull(argv[++i], nullptr, 0));
    } else if (strcmp(argv[i], "--clean-share") == 0 && v) {
      o.clean_share = atof(argv[++i]);
    } else if (strcmp(argv[i], "--sources") == 0 && v) {
      o.only = grndpool_bench::ParseNames(argv[++i]);
    } else if (strcmp(argv[i], "--json") == 0 && v) {
      o.json = argv[++i];
    } else {
      fprintf(stderr,
              "usage: %s [--threads 1,2,16,64,256,1024,4096] [--rounds R] [--block-ms MS]\n"
              "          [--per-thread-us US] [--stack-kib K] [--clean-share F]\n"
              "          [--sources a,b,...] [--json FILE]\n",
              argv[0]);
      return 2;
    }
  }
  return grndpool_bench::Run(o);
}
