// SPDX-License-Identifier: Apache-2.0
// The faults faults_test injects (through tests/fault_seams.h), one per
// process, each with what the counters and grndpool_describe() must show
// after the draws.
#pragma once

#include <string>

#include "grndpool/grndpool.h"

namespace grndpool::test {

using StatsT = struct grndpool_stats;

struct Fault {
  const char *name;
  void (*install)();
  // Checks the counters and the describe line after the draws (EXPECT_*).
  void (*check)(const StatsT &s, const std::string &describe);
};

// The fault named `name` (GRNDPOOL_TEST_FAULT), or nullptr.
const Fault *FindFault(const char *name);

}  // namespace grndpool::test
