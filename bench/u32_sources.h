// SPDX-License-Identifier: Apache-2.0
// The one table of single-thread u32 sources: grndpool's draws, the peers, the
// keystream limit and the bench-only prototypes, each as a function a loop can
// inline. u32_rounds times the rows marked for its rounds, scaling and tail;
// callgrind_u32 runs the rows marked for callgrind, and `callgrind_u32 --list`
// hands those rows (with their refill function) to where_time_goes.py. A source
// is added here, once, and every program that times u32 draws picks it up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace grndpool_bench {

// Where a row is measured (bits of U32Source::in).
enum U32Use : unsigned {
  kRounds = 1,         // u32_rounds: interleaved rounds, ns per draw
  kTail = 2,           // u32_rounds: each draw timed with rdtscp
  kScaling = 4,        // u32_rounds: 1 -> 2 threads
  kCallgrind = 8,      // callgrind_u32 NAME: natively (under valgrind: the syscall source)
  kCallgrindEmu = 16,  // callgrind_u32 NAME-emu: behind the userspace kernel model
  // callgrind_u32 NAME-perdraw-emu: the model in per-draw mode (GRND_TIMESTAMP in
  // its vDSO branch); grndpool rows also NAME-perdraw-nolane-emu (lane closed).
  kCallgrindPerDraw = 32,
};

// Histogram buckets of the tail: cycles past 1<<20 (~0.4 ms here) land in the
// last one; the maximum is kept exactly.
inline constexpr size_t kHistBuckets = size_t{1} << 20;

struct U32Source {
  const char *name;
  const char *kind;  // "grndpool", "peer", "limit", "prototype", "anatomy", "timer"
  uint32_t (*draw)();
  // `calls` draws in a loop of its own (DriveLoop<draw>, named so for
  // callgrind's --toggle-collect); returns their xor.
  uint32_t (*loop)(uint64_t calls);
  // `samples` draws, each timed with rdtscp, into hist (kHistBuckets) and *max.
  void (*tail)(uint64_t samples, std::vector<uint64_t> *hist, uint64_t *max);
  size_t bytes_per_draw;
  double draws_per_call;  // > 1 for keystream-limit: one call makes many draws' bytes
  unsigned in;            // U32Use bits
  // For where_time_goes.py: the refill function's name (nullptr: none, the
  // call is the keystream itself) and u32 per refill (0: the program counts
  // grndpool's refills).
  const char *refill_fn;
  unsigned u32_per_refill;
  // False (and *why says why) when the source cannot run in this process;
  // nullptr: always available.
  bool (*available)(std::string *why);

  // u32 (4-byte units) of output per call.
  double u32_per_call() const { return bytes_per_draw * draws_per_call / 4; }
};

// Every row, in the order the programs list them.
const std::vector<U32Source> &U32Sources();

}  // namespace grndpool_bench
