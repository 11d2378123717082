// SPDX-License-Identifier: Apache-2.0
// How many threads the process has now, as the kernel counts them: the slice
// directory sizes a new segment's slices from it (lib/slice_directory.h).
#pragma once

#include <cstddef>

namespace grndpool {

// The process's threads ("Threads:" in /proc/self/status), or 0 when that
// cannot be read (no /proc, a sandbox that denies it, no descriptor free).
// Three raw system calls (openat, read, close; no cancellation point), no
// allocation, no lock; errno is kept, so any draw may ask, from a signal
// handler too.
size_t ProcessThreads();

// Tests: answers ProcessThreads() instead of the kernel (nullptr: the kernel).
void SetProcessThreadsForTesting(size_t (*count)());

}  // namespace grndpool
