// SPDX-License-Identifier: Apache-2.0
// Hot slices: larger slices for the threads that draw the most. Every thread
// starts on a small slice (GRNDPOOL_SLICE_BYTES), so a thousand idle threads
// cost little locked memory; a thread that keeps refilling moves to a hot slice
// (GRNDPOOL_HOT_SLICE_BYTES), which refills, and rekeys, that many times less
// often. Hot slices come out of the same slab budget, at most half of it,
// are mapped only when first claimed and stay mapped for the life of the
// process, locked while in use or free; when threads find no slice, their
// owners give them back (ParkHotSlice), or the thread whose claim failed gives
// back a free one (ParkFreeHotSlice), and their budget goes to small slices.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/process.h"
#include "lib/slice.h"

namespace grndpool {

// Start-up only: keeps `process` (the geometry says whether hot slices are on
// and how many), registers the fork and new-epoch hooks.
void InitHotSlices(const Process &process);

// False when hot slices are off, or when one could not be locked: no new one
// is mapped then (those mapped and locked before are still handed out).
bool HotSlicesMayGrow();

// A free hot slice now owned by `tag`, its header reset and stamped; an empty
// Claim when hot slices are off, all taken, less than a quarter of the slab
// budget is left to map a new one (SlabBudgetPlentiful), or the memory could
// not be locked. Hot slices exist for speed: they are never handed out
// unlocked (the first failure to lock one stops the mapping of new ones, and
// a slice that cannot be locked again in a child after fork is never handed
// out), so never droppable either. Their claim words are outside them, like
// the directory's.
Claim ClaimHotSlice(uint32_t tag);

// Wipes the slice and makes it free if `tag` still owns it; never waits.
void ReleaseHotSlice(const Claim &claim, uint32_t tag);

// Gives the slice's budget back for good if `tag` still owns it: wiped,
// unlocked, its pages discarded, kept mapped (readers index the slots without
// RCU) and never handed out again. For when threads find no slice
// (FailedClaims moved): the budget then goes to them, as small slices. Its
// owner calls it, from its refill or its exit, never another thread: an owner
// may be mid-draw. Takes g_map_mutex. A slice is parked when a claim failed
// (FailedClaims) since the last park gave its budget back. Returns whether it
// parked it.
bool ParkHotSlice(const Claim &claim, uint32_t tag);

// For a thread whose claim found no slice: parks a free hot slice (no owner
// to wait for), when a park is wanted, as ParkHotSlice does. Then the budget
// that free hot slots held goes to threads without a slice even when no hot
// owner draws any more. Takes g_map_mutex. Returns whether it parked one.
bool ParkFreeHotSlice();

// Bytes served from owned hot slices since their last refill (for stats).
uint64_t LiveHotServedBytes();

// In a child of a raw clone, hot slices mapped before the fork are held back
// until the thread that forked has been seen, as the directory's are.
bool HotQuarantineActive();
void LiftHotQuarantine();

}  // namespace grndpool
