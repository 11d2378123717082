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
//           then 1) back to back; the median over the rounds (u32_scaling.cc).
//   tail    each draw timed on its own with rdtscp (lfence after each read),
//           refills included; p50/p99/p99.9/p99.99/max in TSC cycles, in
//           interleaved chunks. "timer" is the empty call: the floor.
//
//   u32_rounds [--rounds R] [--block-ms MS] [--scaling-rounds R] [--scaling-block-ms MS]
//              [--tail-samples N] [--json PATH]
//
// The sources are the rows of the u32 table (u32_sources.h), then every other
// grndpool strategy and peer through a function pointer (rounds only).
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "grndpool/grndpool.h"
#include "peers.h"
#include "proc_self.h"
#include "u32_measure.h"
#include "u32_report.h"
#include "u32_scaling.h"
#include "u32_sources.h"

#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

std::vector<Measured> Sources(std::vector<std::string> *skipped) {
  std::vector<Measured> out;
  constexpr unsigned kTimed = kRounds | kTail | kScaling;
  for (const U32Source &row : U32Sources()) {
    if ((row.in & kTimed) == 0) continue;
    std::string why;
    if (row.available != nullptr && !row.available(&why)) {
      skipped->push_back(std::string(row.name) + ": " + why);
      continue;
    }
    Measured m;
    m.name = row.name;
    m.kind = row.kind;
    m.row = &row;
    m.bytes_per_draw = row.bytes_per_draw;
    m.draws_per_call = row.draws_per_call;
    out.push_back(std::move(m));
  }
  // For the bar chart: every other strategy and peer, through a function pointer.
  auto add_indirect = [&out](const std::string &name, const char *kind,
                             void (*draw)(void *, size_t)) {
    for (const Measured &s : out)
      if (s.name == name) return;
    Measured s;
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

double RunBlock(const Measured &s, uint64_t calls) {
  return s.indirect != nullptr ? TimeIndirect(s.indirect, calls) : TimeLoop(s.row->loop, calls);
}

// Calls per block so a block takes about block_ms (after a warm-up that also
// sets up every thread-local state).
void Calibrate(Measured &s, double block_ms) {
  uint64_t calls = 64;
  double t = 0;
  while ((t = RunBlock(s, calls)) < 2e-3) calls *= 4;
  s.calls_per_block = std::max<uint64_t>(1, static_cast<uint64_t>(calls * block_ms * 1e-3 / t));
}

void MeasureRounds(std::vector<Measured> &sources, const RoundsOptions &o) {
  for (Measured &s : sources)
    if (s.in_rounds()) Calibrate(s, o.block_ms);
  const size_t n = sources.size();
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      Measured &s = sources[(k + r) % n];  // rotated: no source always runs first
      if (!s.in_rounds()) continue;
      const double secs = Watched([&] { return RunBlock(s, s.calls_per_block); }, &s.preempted);
      s.ns_per_draw.push_back(secs * 1e9 / (s.calls_per_block * s.draws_per_call));
    }
  }
}

// Chunks of 250k samples, interleaved, until tail_samples per source.
void MeasureTail(std::vector<Measured> &sources, const RoundsOptions &o) {
  const uint64_t chunk = std::min<uint64_t>(250'000, std::max<uint64_t>(o.tail_samples, 1));
  for (Measured &s : sources)
    if (s.in(kTail)) s.hist.assign(kHistBuckets, 0);
  for (uint64_t done = 0; done < o.tail_samples; done += chunk) {
    const uint64_t now = std::min(chunk, o.tail_samples - done);
    for (Measured &s : sources) {
      if (!s.in(kTail)) continue;
      s.row->tail(now, &s.hist, &s.tail_max);
      s.tail_samples += now;
    }
  }
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

int Run(const RoundsOptions &o) {
  // Initialises grndpool now, so its start-up is in no block.
  fprintf(stderr, "u32_rounds: %s\n", grndpool_describe());
  std::vector<std::string> skipped;
  std::vector<Measured> sources = Sources(&skipped);
  for (const std::string &s : skipped) fprintf(stderr, "u32_rounds: skipped %s\n", s.c_str());
  RunFacts facts{};
  facts.load_start = LoadAverage();
  MeasureRounds(sources, o);
  MeasureScaling(sources, o);
  MeasureTail(sources, o);
  facts.tsc_per_ns = TscPerNs();
  facts.load_end = LoadAverage();
  PrintResults(sources, o, facts);
  return o.json.empty() || WriteJson(o.json, sources, o, facts) ? 0 : 1;
}

// The flags, each with one value; false (after printing the usage) on an
// unknown flag or a missing value.
bool ParseArgs(int argc, char **argv, RoundsOptions *o) {
  using Set = void (*)(RoundsOptions *, const char *);
  const std::pair<const char *, Set> kFlags[] = {
      {"--rounds", [](RoundsOptions *o, const char *v) { o->rounds = std::max(1, atoi(v)); }},
      {"--block-ms", [](RoundsOptions *o, const char *v) { o->block_ms = std::max(0.1, atof(v)); }},
      {"--scaling-rounds",
       [](RoundsOptions *o, const char *v) { o->scaling_rounds = std::max(0, atoi(v)); }},
      {"--scaling-block-ms",
       [](RoundsOptions *o, const char *v) { o->scaling_block_ms = std::max(0.1, atof(v)); }},
      {"--tail-samples",
       [](RoundsOptions *o, const char *v) {
         o->tail_samples = std::max<uint64_t>(1, strtoull(v, nullptr, 0));
       }},
      {"--json", [](RoundsOptions *o, const char *v) { o->json = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    const auto *flag = std::find_if(std::begin(kFlags), std::end(kFlags),
                                    [&](const auto &f) { return strcmp(argv[i], f.first) == 0; });
    if (flag == std::end(kFlags) || i + 1 >= argc) {
      fprintf(
          stderr,
          "usage: %s [--rounds R] [--block-ms MS] [--scaling-rounds R] [--scaling-block-ms MS]\n"
          "          [--tail-samples N] [--json PATH]\n",
          argv[0]);
      return false;
    }
    flag->second(o, argv[++i]);
  }
  return true;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  grndpool_bench::RoundsOptions o;
  return grndpool_bench::ParseArgs(argc, argv, &o) ? grndpool_bench::Run(o) : 2;
}
