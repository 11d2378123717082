// SPDX-License-Identifier: Apache-2.0
// grndpool-bench: every grndpool strategy and every peer library, side by side,
// drawing u32, u64, 16 B and 4 KiB at 1..1024 threads.
//
// Counters, all on one wall clock spanning the whole run (see DrawLoop):
//   ns_per_draw      wall ns per draw as one thread sees it (what a caller pays)
//   items_per_second draws per second, all threads together (aggregate)
//   bytes_per_second bytes per second, all threads together (aggregate)
//   wall_s           the measured span
// Ignore the Time/CPU columns for threads > cores (see DrawLoop).
// The label is "strategy", "peer" or "limit", for bench/report.py. A "limit"
// source (keystream-limit) makes 16 KiB per call; its counters are per draw
// of the row's size all the same (16 KiB / size draws per call).
//
// Own flag, parsed before benchmark::Initialize: --full runs every size at
// every thread count; the default (quick) matrix runs u32 at every thread
// count and the other sizes at 1 and 2 threads, with a short min time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "sources.h"

namespace grndpool_bench {
namespace {

constexpr int kAllThreads[] = {1, 2, 4, 16, 64, 256, 1024};
constexpr int kQuickThreads[] = {1, 2};
// Quick runs are bounded by benchmark count x min time; 0.1 s keeps the whole
// default matrix (~150 runs) within a few minutes on 2 cores.
constexpr const char *kQuickMinTime = "--benchmark_min_time=0.1";

struct DrawSize {
  const char *name;
  size_t bytes;
};
constexpr DrawSize kSizes[] = {{"u32", 4}, {"u64", 8}, {"16B", 16}, {"4KiB", 4096}};

const auto g_start = std::chrono::steady_clock::now();
std::atomic<int> g_current_group{-1};

// One line on stderr when a (size, source) group starts, so a long run shows
// where it is even though results are only printed at the end of each run.
void ReportGroupStart(int group, int groups, const std::string &name) {
  if (g_current_group.exchange(group) == group) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  fprintf(stderr, "grndpool-bench: [%d/%d] %s (%.0f s elapsed)\n", group + 1, groups, name.c_str(),
          elapsed);
}

// Each thread's start time, after Google Benchmark's start barrier. Slot i is
// written by thread i of the current run before it draws, and read by thread
// 0 after the stop barrier, so no reset between runs is needed.
constexpr int kMaxThreads = 1024;
double g_thread_start[kMaxThreads];

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Why not the library's own rates: with UseRealTime, Google Benchmark averages
// each thread's own timer, and a thread's timer starts only when it is first
// scheduled after the start barrier. With more threads than cores that
// under-counts the wall time by up to the oversubscription factor (1024
// threads on 2 cores looked 100x faster than a single syscall). Here the wall
// time is the span from the first thread's start to the end of the run.
template <size_t kBytes>
void DrawLoop(benchmark::State &state, const Source &source, const std::string &name, int group,
              int groups) {
  if (state.thread_index() == 0) ReportGroupStart(group, groups, name);
  // A bulk source (keystream-limit) makes bytes_per_call bytes per call: that
  // counts as bytes_per_call / kBytes draws of this size.
  const double draws_per_call =
      source.bytes_per_call != 0 ? static_cast<double>(source.bytes_per_call) / kBytes : 1.0;
  alignas(64) unsigned char buf[kBytes];
  auto it = state.begin();
  const auto end = state.end();  // waits at the start barrier
  g_thread_start[state.thread_index()] = NowSeconds();
  for (; it != end; ++it) {
    source.draw(buf, kBytes);
    benchmark::DoNotOptimize(buf);
  }
  // Past the loop every thread has passed the stop barrier: all have finished.
  if (state.thread_index() != 0) return;
  const double finish = NowSeconds();
  double first_start = g_thread_start[0];
  for (int i = 1; i < state.threads(); ++i) first_start = std::min(first_start, g_thread_start[i]);
  const double wall = finish - first_start;
  const double per_thread = static_cast<double>(state.iterations()) * draws_per_call;
  const double draws = per_thread * state.threads();
  // Plain counters, set by thread 0 only (counters are summed over threads).
  state.counters["ns_per_draw"] = wall * 1e9 / per_thread;
  state.counters["items_per_second"] = draws / wall;
  state.counters["bytes_per_second"] = draws * kBytes / wall;
  state.counters["wall_s"] = wall;
  state.SetLabel(source.kind);
}

using LoopFn = void (*)(benchmark::State &, const Source &, const std::string &, int, int);

LoopFn LoopFor(size_t bytes) {
  switch (bytes) {
    case 4:
      return DrawLoop<4>;
    case 8:
      return DrawLoop<8>;
    case 16:
      return DrawLoop<16>;
    default:
      return DrawLoop<4096>;
  }
}

void Register(const std::vector<Source> &sources, bool full) {
  const int groups = static_cast<int>(std::size(kSizes) * sources.size());
  int group = 0;
  for (const DrawSize &size : kSizes) {
    const bool all_threads = full || strcmp(size.name, "u32") == 0;
    std::vector<int> threads =
        all_threads ? std::vector<int>(std::begin(kAllThreads), std::end(kAllThreads))
                    : std::vector<int>(std::begin(kQuickThreads), std::end(kQuickThreads));
    for (const Source &source : sources) {
      const std::string name = std::string(size.name) + "/" + source.name;
      LoopFn loop = LoopFor(size.bytes);
      auto *b = benchmark::RegisterBenchmark(
          name.c_str(), [loop, source, name, group, groups](benchmark::State &st) {
            loop(st, source, name, group, groups);
          });
      b->UseRealTime();
      for (int t : threads) b->Threads(t);
      ++group;
    }
  }
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  bool full = false;
  bool min_time_given = false;
  std::vector<char *> args;
  for (int i = 0; i < argc; ++i) {
    if (strcmp(argv[i], "--full") == 0) {
      full = true;
      continue;
    }
    if (strncmp(argv[i], "--benchmark_min_time", 20) == 0) min_time_given = true;
    args.push_back(argv[i]);
  }
  if (!full && !min_time_given)
    args.insert(args.begin() + 1, const_cast<char *>(grndpool_bench::kQuickMinTime));
  int bench_argc = static_cast<int>(args.size());
  args.push_back(nullptr);

  // Initialises the library before any thread draws, and records its setup.
  fprintf(stderr, "grndpool-bench: %s\n", grndpool_describe());
  std::vector<std::string> skipped;
  const std::vector<grndpool_bench::Source> sources = grndpool_bench::AllSources(&skipped);
  for (const std::string &s : skipped)
    fprintf(stderr, "grndpool-bench: skipped peer %s\n", s.c_str());
  fprintf(stderr, "grndpool-bench: %s matrix, %zu sources\n", full ? "full" : "quick",
          sources.size());

  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) return 1;
  grndpool_bench::Register(sources, full);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
