// Mapping, locking and wiping of slab segments: the only code that calls mmap,
// madvise and mlock for the slab.
#pragma once

#include <cstddef>

namespace grndpool {

struct SegmentMapping {
  void *base = nullptr;
  bool locked = false;
};

// Maps `bytes` of private anonymous memory that is wiped in a child after fork
// (MADV_WIPEONFORK), left out of core dumps (MADV_DONTDUMP), and locked when
// RLIMIT_MEMLOCK allows. base is nullptr only if mmap itself failed.
SegmentMapping MapSegment(size_t bytes);

// Locks an existing segment again (locks are not inherited across fork).
bool LockSegment(void *base, size_t bytes);

}  // namespace grndpool
