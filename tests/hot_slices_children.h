// SPDX-License-Identifier: Apache-2.0
// The cases of hot_slices_test that need a process of their own (options are
// read once per process, and some replace the memory seam): the test runs its
// own program again with `--child MODE` and the environment the case needs.
#pragma once

#include <string>

#include "grndpool/grndpool.h"

namespace grndpool::test {

inline constexpr int kBusyDraws = 1 << 16;  // 256 KiB of u32: 256 refills of a 1 KiB slice

// Draws like a busy thread: enough refills, fast enough, to go hot.
inline void DrawBusily() {
  for (int i = 0; i < kBusyDraws; ++i) (void)grndpool_u32();
}

// Runs child MODE (share, mlock-fails, off, lock-fails-later, fork-in-map,
// raw-fork); returns the process's exit status: 0 when the case held, 2 for an
// unknown mode.
int RunHotSlicesChild(const std::string &mode);

}  // namespace grndpool::test
