// SPDX-License-Identifier: Apache-2.0
// grndpool-describe: prints grndpool_describe() for the build the benchmarks
// use (strategy, kernel source, refill mode, sizes, locking), so every results
// set records what it measured.
#include <cstdio>

#include "grndpool/grndpool.h"

int main() {
  puts(grndpool_describe());
  return 0;
}
