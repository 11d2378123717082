// SPDX-License-Identifier: Apache-2.0
// What u32_rounds measures of one source, and the small timing helpers its
// files share (u32_rounds.cc runs the rounds and the tail, u32_scaling.cc the
// 1 -> 2 thread rounds, u32_report.cc prints and writes the results).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "u32_sources.h"

namespace grndpool_bench {

struct RoundsOptions {
  int rounds = 61;
  double block_ms = 2;
  int scaling_rounds = 25;
  double scaling_block_ms = 10;
  uint64_t tail_samples = 4'000'000;
  std::string json;
};

// One source of the run: a row of the u32 table, or (rounds only) a strategy
// or peer drawn through a function pointer, 4 bytes at a time.
struct Measured {
  std::string name;
  std::string kind;
  const U32Source *row = nullptr;  // nullptr: `indirect` only
  void (*indirect)(void *out, size_t n) = nullptr;
  size_t bytes_per_draw = 4;
  double draws_per_call = 1;
  uint64_t calls_per_block = 0;  // calibrated
  std::vector<double> ns_per_draw;
  std::vector<int> preempted;   // per round: 1 when the process was switched out
  uint64_t scaling_calls = 0;   // per thread and block, calibrated
  std::vector<double> scaling;  // 2-thread draws/s over 1-thread draws/s, per round
  std::vector<double> one_thread_ns, two_thread_ns;  // ns per draw, all threads together
  std::vector<int> one_thread_preempted, two_thread_preempted;
  std::vector<uint64_t> hist;
  uint64_t tail_max = 0;
  uint64_t tail_samples = 0;

  bool in(unsigned use) const { return row != nullptr && (row->in & use) != 0; }
  bool in_rounds() const { return indirect != nullptr || in(kRounds); }
};

inline double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds for loop(calls), its result kept.
inline double TimeLoop(uint32_t (*loop)(uint64_t), uint64_t calls) {
  const double t0 = Seconds();
  const uint32_t acc = loop(calls);
  const double s = Seconds() - t0;
  __asm__ volatile("" : : "r"(acc));
  return s;
}

// Involuntary context switches of the whole process so far: a block during
// which this moves was preempted (by another tenant of the machine, usually).
inline long InvoluntarySwitches() {
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

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace grndpool_bench
