// SPDX-License-Identifier: Apache-2.0
// The slice a thread owns, over its life: claimed at its first draw (or shared
// overflow slices while the budget is spent), traded for a hot slice when the
// thread draws a lot, forgotten by the thread that forked (its slice went with
// the wiped slab), and released, wiped, when the thread exits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/process.h"
#include "lib/thread_state.h"

namespace grndpool {

// Start-up only: keeps `process`, registers the fork hook that makes the
// forking thread forget its slice in a glibc fork() child.
void InitThreadSlices(const Process &process);

// Brings the thread up to date with the process: the first draw registers its
// exit destructor (false when no pthread key is left: the kernel serves it); a
// thread from before the latest child reset is the one that forked, so it
// drops its parent-side slice and lets other threads use the parent's slices
// again.
bool SetUpThread(ThreadState &t);

// The slice this thread owns, claiming one if it has none (first draw, after
// fork, or a periodic retry while in overflow); nullptr: share the overflow
// slices. A thread about to refill a small slice (`refilling`) that refills
// often is moved to a hot slice first.
SliceHeader *OwnedSlice(ThreadState &t, bool refilling);

// The thread no longer owns a slice in this process (a fork took it): serve
// nothing from it again.
void ForgetSlice(ThreadState &t);

// The thread-exit destructor's work: after it, every draw on the thread goes to
// the kernel. Safe against a signal handler that draws meanwhile.
void ReleaseThread(ThreadState *t);

// Tests: the calling thread (which has drawn) gives its slice back and
// claims none again: its draws take the overflow path, as past the budget.
void StayInOverflowForTesting();

}  // namespace grndpool
