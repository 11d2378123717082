// SPDX-License-Identifier: Apache-2.0
// The slice allocator: slab segments, published to readers through an
// RCU-protected directory (liburcu, bulletproof flavour: no thread registration
// and no call_rcu worker thread).
//
// Threads claim a slice on their first draw and give it back, wiped, when they
// exit. When every slice is owned, a new segment is mapped and published, until
// the slab budget is spent. The segment array grows by doubling; an outgrown
// array is retired and freed after a grace period at a later thread exit, never
// in a draw (a draw waits for no grace period, so it can run inside any
// read-side section, the application's included). Segments stay mapped for the life of the process
// (their number is bounded by the budget) so a thread's pointer into its slice never dangles.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/slice.h"

namespace grndpool {

// Sizes derived from the options, computed once here.
struct SlabGeometry {
  size_t slice_bytes;    // header included
  uint32_t capacity;     // bytes a slice serves between refills
  size_t segment_bytes;  // max(page, slice_bytes)
  size_t max_segments;   // slab budget / segment_bytes, overflow segment included
  size_t slices_per_segment;
};

// max_segments is at least 1: options make sure the budget holds one segment.
SlabGeometry ComputeGeometry(size_t slab_bytes, size_t slice_bytes);

// Start-up only: records the geometry and registers the fork hooks.
void InitSliceDirectory(const SlabGeometry &geometry);

// A free slice now owned by `tag`, its header reset and stamped, or an empty
// Claim when the budget is spent (or no memory can be mapped). Its claim word
// is outside the slab, so a slice in MAP_DROPPABLE memory stays owned when
// the kernel drops its page.
Claim ClaimSlice(uint32_t tag);

// RetireSlice, at thread exit; then also frees outgrown directory arrays (a
// grace period: may wait).
void ReleaseSlice(const Claim &claim, uint32_t tag);

// Wipes a slice serving `capacity` bytes and makes it free, counting what it
// held, if it is still owned by `tag` (one compare-and-swap of the claim word
// to kRetiringTag decides: after a fork this process may not own it, and
// another thread may own it by now). Returns whether it did. Never waits. Any
// slice: the directory's or a hot one.
bool RetireSlice(const Claim &claim, uint32_t capacity, uint32_t tag);

// A slice `tag` still claims whose stamp was wiped: the kernel dropped its
// page (MAP_DROPPABLE). Resets it empty and stamps it again; counted.
void RestampDroppedSlice(SliceHeader *slice, uint32_t tag);

// The slab budget, shared by every kind of owned slice: takes `bytes` of it
// before mapping them (false when it is spent), or gives back what could not be
// mapped. The overflow segment's share is set aside at start-up.
bool TakeSlabBudget(size_t bytes);
void ReturnSlabBudget(size_t bytes);

// In a child of a raw clone: the slice of the thread that forked is unknown,
// so no slice mapped before the fork is handed out until that thread has been
// seen: at its next slow path, known by its stale epoch or, if it had not drawn
// before, by gettid() == getpid() (it is the child's first thread). glibc's
// fork() needs none of this.
bool QuarantineActive();
void LiftQuarantine();

// The shared overflow slices (mapped on first use, counted in the budget), or
// nullptr when the budget leaves no room for them. Sets *count.
SharedSliceHeader *OverflowSlices(size_t *count);

// Bytes served from live slices since their last refill (for stats); 0 before
// start-up.
uint64_t LiveServedBytes();

const SlabGeometry &Geometry();

// Whether the calling thread may enter a liburcu read-side section: false once
// liburcu's own thread-exit destructor has unregistered it (a signal handler
// drawing in that window must not register again: liburcu holds a lock there
// with signals unblocked). True on a thread's first call (it registers).
bool RcuReaderReady();

}  // namespace grndpool
