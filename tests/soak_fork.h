// SPDX-License-Identifier: Apache-2.0
// The soak test's forker: forks every ~5 ms, alternating glibc fork() and raw
// SYS_fork (no atfork handlers); each child draws (from two threads too where
// it may start threads) and sends what it got back through a pipe; the parent
// draws right after each fork, so its bytes meet the child's in the store.
#pragma once

#include <atomic>
#include <cstdint>

namespace grndpool::test {

struct ForkCounts {
  std::atomic<uint64_t> forks{0}, raw_forks{0}, child_failures{0};
};

// Runs until `stop`; every child's output goes to the soak store.
void Forker(const std::atomic<bool> &stop, ForkCounts *counts);

}  // namespace grndpool::test
