// The slice allocator: slab segments, published to readers through an
// RCU-protected directory (liburcu, bulletproof flavour: no thread registration
// and no call_rcu worker thread).
//
// Threads claim a slice on their first draw and give it back, wiped, when they
// exit. When every slice is owned, a new segment is mapped and a new directory
// published, until the slab budget is spent; old directories are freed after a
// grace period. Segments stay mapped for the life of the process (their number is
// bounded by the budget) so a thread's pointer into its slice never dangles.
#pragma once

#include <cstddef>
#include <cstdint>

#include "slice.h"

namespace grndpool {

struct SlabGeometry {
  size_t slice_bytes;    // header included
  size_t segment_bytes;  // max(page, slice_bytes)
  size_t max_segments;   // slab budget / segment_bytes, overflow segment included
  size_t slices_per_segment;
};

SlabGeometry ComputeGeometry(size_t slab_bytes, size_t slice_bytes);

void InitSliceDirectory(const SlabGeometry &geometry);

// A free slice now owned by `tag`, or nullptr when the budget is spent.
SliceHeader *ClaimSlice(uint32_t tag);

// Wipes the slice and makes it free. Called by its owner only.
void ReleaseSlice(SliceHeader *slice);

// The shared overflow slices (mapped on first use, counted in the budget), or
// nullptr when the budget leaves no room for them. Sets *count.
SharedSliceHeader *OverflowSlices(size_t *count);

// Bytes served from live slices since their last refill (for stats).
uint64_t LiveServedBytes();

// In a child after fork: locks every segment again and recounts locked bytes.
void RelockAfterFork();

// fork() must not copy the directory lock while another thread holds it.
void DirectoryLockForFork();
void DirectoryUnlockAfterFork();

const SlabGeometry &Geometry();

}  // namespace grndpool
