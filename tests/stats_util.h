// SPDX-License-Identifier: Apache-2.0
// The counters, for tests and the probes that link the library.
#pragma once

#include "grndpool/grndpool.h"

namespace grndpool::test {

// This process's counters (the whole struct: size 0).
inline struct grndpool_stats Stats() {
  struct grndpool_stats s = {};
  grndpool_get_stats(&s);
  return s;
}

}  // namespace grndpool::test
