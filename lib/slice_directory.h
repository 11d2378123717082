// SPDX-License-Identifier: Apache-2.0
// The slices of the slab: who owns which (claim words), the slab budget in
// bytes (its last segment set aside for the shared overflow slices,
// lib/shared_slices.h), growth by one segment at a time
// (lib/segment_directory.h publishes them), and what a fork or a reseed does
// to them.
//
// Threads claim a slice on their first draw and give it back, wiped, when they
// exit. When every slice is owned, a new segment is mapped and published,
// until the slab budget is spent.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/process.h"
#include "lib/slice.h"

namespace grndpool {

// Every size of the slab, from the options: computed once, at start-up.
// `reservoir_bytes` of the budget (at most an eighth) are kept for the
// per-CPU reservoir; the slab's segments and hot slices share the rest.
// max_segments is at least 1: options make sure the budget holds one segment.
SlabGeometry ComputeGeometry(const Options &options, size_t reservoir_bytes = 0);

// Start-up only: keeps `process` (its geometry), maps the claim words and
// registers the fork and new-epoch hooks.
void InitSliceDirectory(const Process &process);

// A free slice now owned by `tag`, its header reset and stamped, or an empty
// Claim when the budget is spent (or no memory can be mapped). With none
// free and budget left, it grows the slab or waits for a grow: two claims at
// most queue for the writers' lock (three, with one whose sleep ran out),
// the others sleep until a grow is done. Slices shrink
// as threads multiply (SliceBytesFor): the claim says its capacity. A claim
// that finds a slice larger than the smallest first splits the segments
// whose slices are all free down to what a grow would make for the threads
// now waiting (once the threads of an earlier, smaller crowd have exited,
// their larger slices would otherwise hold the budget). A claim
// that finds none counts in FailedClaims(). Its claim word
// is outside the slab, so a slice in MAP_DROPPABLE memory stays owned when
// the kernel drops its page.
Claim ClaimSlice(uint32_t tag);

// The size of a new segment's slices: GRNDPOOL_SLICE_BYTES halved down to
// min_slice_bytes, sized from the threads still without a small slice
// (`waiting`: the kernel's count of the process's threads less those that own
// one, the growing thread among them) and the budget left for them after this
// segment (`left`: what is unmapped, and what hot slices hold, which they give
// back when claims fail). The segment takes the largest size that
// - leaves every other waiting thread a slice of half that size, so the
//   slices end up in the two sizes around the fair share: the fewest refills
//   for threads that draw alike (4096 threads at 2 MiB beside the reservoir:
//   3504 x 512 B and 592 x 256 B, 10.6 refills per 1000 u32, against 1168 x
//   1 KiB and 2928 x 256 B by segment index, 16.1), and
// - leaves room, at min_slice_bytes, for as many slices as sizing by index
//   would have made (promised_slices, less `mapped`, the slices of the
//   segments before it): threads that arrive one at a time, each finding all
//   the others served, get what the index gave them before. (Threads that
//   never draw count as waiting: the kernel's count cannot tell them apart,
//   so many idle threads shrink the slices of those that draw.)
// Pure; the grow reads the counts under the writers' lock, and sizes by index
// when the thread count cannot be read.
size_t SliceBytesFor(const SlabGeometry &g, size_t left, size_t waiting, size_t mapped);

// RetireSlice, at thread exit; then also frees outgrown segment arrays (a
// grace period: may wait).
void ReleaseSlice(const Claim &claim, uint32_t tag);

// Wipes a slice and makes it free, counting what it held, if it is still
// owned by `tag` (one compare-and-swap of the claim word to kRetiringTag
// decides: after a fork this process may not own it, and another thread may
// own it by now). Returns whether it did. Never waits. Any slice: the
// directory's or a hot one. `free_as`: the claim word it is left with; 0 frees
// it (and moves SliceFrees), kRetiringTag keeps it from every claimer (a hot
// slice being parked).
bool RetireSlice(const Claim &claim, uint32_t tag, uint32_t free_as = 0);

// How many claims found no slice so far: when it moves, threads are on the
// overflow slices, and hot slices give their budget back (ParkHotSlice).
uint64_t FailedClaims();

// A slice `tag` still claims whose stamp is not its tag: the kernel dropped
// its page (stamp 0) or the epoch moved (kStaleTag). Counts what it held
// (slices_dropped, or bytes_discarded), resets it empty and stamps it again.
void RestampSlice(SliceHeader *slice, uint32_t tag);

// The slab budget, shared by every kind of owned slice: takes `bytes` of it
// before mapping them (false when it is spent), or gives back what could not be
// mapped. The overflow segment's share is set aside at start-up.
bool TakeSlabBudget(size_t bytes);
void ReturnSlabBudget(size_t bytes);

// True while at least a quarter of the owned budget is unmapped and no
// thread a split counted as waiting is still owed a slice. Hot slices are
// mapped only then: past it, the budget goes to threads that have no slice.
bool SlabBudgetPlentiful();

// A count that moves after anything that may let a ClaimSlice that failed
// succeed: a slice retired, budget given back, a fork child's reset, a
// quarantine lifted. Read it before a ClaimSlice; while it has not moved
// since one that failed, another would fail too (acquire: the move is seen
// after what it announces). Never 0. Any thread, async-signal-safe.
uint64_t SliceFrees();

// Tests only: how many times ClaimSlice has looked for a free slice.
uint64_t ClaimScansForTesting();

// Tests only: called by a claim's scan after it read a segment's slice size
// and before it takes a claim word there (nullptr: nothing).
void SetClaimScanHookForTesting(void (*hook)(size_t segment));

// Tests only: called by a split under the writers' lock before it takes the
// claim words of `segment` (nullptr: nothing).
void SetSplitHookForTesting(void (*hook)(size_t segment));

// Tests only: the bound on one sleep of a claim waiting for a grow (100 ms),
// past which it looks again even if no wake came.
void SetGrowWaitBoundForTesting(long ns);

// Tests only: claims in Grow with a grower place, in it as the straggler,
// and asleep waiting for a grow.
struct GrowWaitForTesting {
  uint32_t growers, stragglers, asleep;
};
GrowWaitForTesting GrowWaitNowForTesting();

// In a child of a raw clone: the slice of the thread that forked is unknown,
// so no slice mapped before the fork is handed out until that thread has been
// seen: at its next slow path, known by its stale epoch or, if it had not drawn
// before, by gettid() == getpid() (it is the child's first thread). glibc's
// fork() needs none of this.
bool QuarantineActive();
void LiftQuarantine();

// Bytes served from live slices since their last refill (for stats); 0 before
// start-up.
uint64_t LiveServedBytes();

}  // namespace grndpool
