// SPDX-License-Identifier: Apache-2.0
// u32_rounds' results: the three tables on stdout and the JSON file that
// bench/report.py reads (u32_rounds.json).
#pragma once

#include <string>
#include <vector>

#include "u32_measure.h"

namespace grndpool_bench {

// What the run says about itself beside the sources.
struct RunFacts {
  double tsc_per_ns;
  double load_start, load_end;  // 1-minute load average; -1 when unreadable
};

// Prints the rounds, scaling and tail tables.
void PrintResults(const std::vector<Measured> &sources, const RoundsOptions &o,
                  const RunFacts &facts);

// Writes everything measured to `path`; false (after perror) when it cannot.
bool WriteJson(const std::string &path, const std::vector<Measured> &sources,
               const RoundsOptions &o, const RunFacts &facts);

}  // namespace grndpool_bench
