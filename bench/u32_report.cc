// SPDX-License-Identifier: Apache-2.0
#include "u32_report.h"

#include <cstdio>
#include <utility>

#include "grndpool/grndpool.h"

namespace grndpool_bench {
namespace {

constexpr double kPercentiles[] = {0.5, 0.99, 0.999, 0.9999};
constexpr const char *kPercentileNames[] = {"p50", "p99", "p99.9", "p99.99"};

uint64_t Percentile(const Measured &s, double p) {
  const uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(s.tail_samples));
  uint64_t seen = 0;
  for (size_t c = 0; c < s.hist.size(); ++c) {
    seen += s.hist[c];
    if (seen > rank) return c == kHistBuckets - 1 ? s.tail_max : c;
  }
  return s.tail_max;
}

void PrintRounds(const std::vector<Measured> &sources, const RoundsOptions &o) {
  printf(
      "u32_rounds: %d rounds of ~%.1f ms per source, interleaved; ns per draw: median of the "
      "rounds, best round, best round the process was not preempted in (how many)\n",
      o.rounds, o.block_ms);
  printf("%-24s %-10s %6s %10s %10s %10s %8s\n", "source", "kind", "bytes", "median", "best",
         "best-clean", "clean");
  for (const Measured &s : sources) {
    if (!s.in_rounds()) continue;
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
}

void PrintScaling(const std::vector<Measured> &sources, const RoundsOptions &o) {
  printf(
      "\nu32_rounds: 1 -> 2 thread scaling, %d rounds of ~%.0f ms per thread count; "
      "aggregate draws/s with 2 threads over 1 thread (2.0 = perfect on 2 free cores)\n",
      o.scaling_rounds, o.scaling_block_ms);
  printf("%-24s %10s %10s %10s\n", "source", "median", "min", "max");
  for (const Measured &s : sources) {
    if (s.scaling.empty()) continue;
    const auto [lo, hi] = std::minmax_element(s.scaling.begin(), s.scaling.end());
    printf("%-24s %10.3f %10.3f %10.3f\n", s.name.c_str(), Median(s.scaling), *lo, *hi);
  }
}

void PrintTail(const std::vector<Measured> &sources, const RoundsOptions &o, double tsc_per_ns) {
  printf(
      "\nu32_rounds: tail, %llu draws per source timed one by one with rdtscp, in TSC cycles "
      "(%.3f cycles/ns)\n",
      static_cast<unsigned long long>(o.tail_samples), tsc_per_ns);
  printf("%-24s %8s %8s %8s %8s %10s\n", "source", "p50", "p99", "p99.9", "p99.99", "max");
  for (const Measured &s : sources) {
    if (!s.in(kTail)) continue;
    printf("%-24s", s.name.c_str());
    for (double p : kPercentiles)
      printf(" %8llu", static_cast<unsigned long long>(Percentile(s, p)));
    printf(" %10llu\n", static_cast<unsigned long long>(s.tail_max));
  }
}

// , "key": [v, v, ...] with each value printed by `format`.
template <class T>
void WriteSeries(FILE *f, const char *key, const std::vector<T> &values, const char *format) {
  fprintf(f, ", \"%s\": [", key);
  for (size_t r = 0; r < values.size(); ++r) {
    if (r) fputs(", ", f);
    fprintf(f, format, values[r]);
  }
  fputs("]", f);
}

void WriteSource(FILE *f, const Measured &s) {
  fprintf(f, "  {\"name\": \"%s\", \"kind\": \"%s\", \"bytes_per_draw\": %zu", s.name.c_str(),
          s.kind.c_str(), s.bytes_per_draw);
  if (s.in_rounds()) {
    fprintf(f, ", \"ns_per_draw_median\": %.6f", Median(s.ns_per_draw));
    WriteSeries(f, "ns_per_draw_rounds", s.ns_per_draw, "%.6f");
    WriteSeries(f, "preempted_rounds", s.preempted, "%d");
  }
  if (!s.scaling.empty()) {
    fprintf(f, ", \"scaling_2_over_1_median\": %.6f", Median(s.scaling));
    WriteSeries(f, "scaling_2_over_1_rounds", s.scaling, "%.6f");
    WriteSeries(f, "scaling_1_thread_ns_rounds", s.one_thread_ns, "%.6f");
    WriteSeries(f, "scaling_2_threads_aggregate_ns_rounds", s.two_thread_ns, "%.6f");
    WriteSeries(f, "scaling_1_thread_preempted", s.one_thread_preempted, "%d");
    WriteSeries(f, "scaling_2_threads_preempted", s.two_thread_preempted, "%d");
  }
  if (s.in(kTail)) {
    fprintf(f, ", \"tail_cycles\": {");
    for (size_t p = 0; p < std::size(kPercentiles); ++p)
      fprintf(f, "\"%s\": %llu, ", kPercentileNames[p],
              static_cast<unsigned long long>(Percentile(s, kPercentiles[p])));
    fprintf(f, "\"max\": %llu}", static_cast<unsigned long long>(s.tail_max));
  }
  fprintf(f, "}");
}

}  // namespace

void PrintResults(const std::vector<Measured> &sources, const RoundsOptions &o,
                  const RunFacts &facts) {
  printf("u32_rounds: load average %.2f at start, %.2f at end\n", facts.load_start, facts.load_end);
  PrintRounds(sources, o);
  PrintScaling(sources, o);
  PrintTail(sources, o, facts.tsc_per_ns);
}

bool WriteJson(const std::string &path, const std::vector<Measured> &sources,
               const RoundsOptions &o, const RunFacts &facts) {
  FILE *f = fopen(path.c_str(), "w");
  if (f == nullptr) {
    perror(path.c_str());
    return false;
  }
  fprintf(f, "{\"rounds\": %d, \"block_ms\": %g, \"tail_samples\": %llu, \"tsc_per_ns\": %.6f,\n",
          o.rounds, o.block_ms, static_cast<unsigned long long>(o.tail_samples), facts.tsc_per_ns);
  fprintf(f, " \"scaling_rounds\": %d, \"scaling_block_ms\": %g,\n", o.scaling_rounds,
          o.scaling_block_ms);
  fprintf(f, " \"loadavg_start\": %.2f, \"loadavg_end\": %.2f,\n", facts.load_start,
          facts.load_end);
  fprintf(f, " \"describe\": \"%s\",\n \"sources\": [\n", grndpool_describe());
  for (size_t i = 0; i < sources.size(); ++i) {
    WriteSource(f, sources[i]);
    fprintf(f, "%s\n", i + 1 < sources.size() ? "," : "");
  }
  fprintf(f, " ]}\n");
  fclose(f);
  return true;
}

}  // namespace grndpool_bench
