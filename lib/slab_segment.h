// SPDX-License-Identifier: Apache-2.0
// Mapping, locking and wiping of buffer memory: the only code that calls mmap,
// madvise and mlock for buffers (slab segments, the strategies' buffers and the
// fork canary). The kernel layer maps its own vDSO states (lib/kernel/).
#pragma once

#include <cstddef>

namespace grndpool {

struct SegmentMapping {
  void *base = nullptr;
  bool locked = false;     // mlock succeeded
  bool droppable = false;  // MAP_DROPPABLE: never swapped, but may read zero at any time
};

// Maps `bytes` of anonymous memory that is wiped in a child after fork
// (MADV_WIPEONFORK), left out of core dumps (MADV_DONTDUMP), and locked when
// RLIMIT_MEMLOCK allows. When locking fails and `allow_droppable` is set (the
// caller detects pages the kernel dropped), the memory is remapped MAP_DROPPABLE
// where the kernel has it (>= 6.11), so secrets never reach swap. base is
// nullptr when no wipe-on-fork mapping can be had (mmap refused, or a kernel
// without MADV_WIPEONFORK); the failure is counted.
SegmentMapping MapSegment(size_t bytes, bool allow_droppable);

// Wipes and unmaps what MapSegment returned, and uncounts its lock.
void UnmapSegment(const SegmentMapping &m, size_t bytes);

// Plain anonymous memory for bookkeeping (not locked, not wiped on fork), or
// nullptr. mmap rather than malloc: a draw, even a thread's first from a
// signal handler, may need some. Unmapped with UnmapPlain(p, the same bytes).
void *MapPlain(size_t bytes);
void UnmapPlain(void *p, size_t bytes);

// Plain anonymous memory wiped in a child after fork (MADV_WIPEONFORK), but
// neither locked nor droppable: bookkeeping a child must see cleared and the
// kernel must never drop (slice claim words). nullptr, counted in
// mmap_failures, when it cannot be had.
void *MapWipedPlain(size_t bytes);

// One page backed by a memfd named `name` (/proc/PID/maps shows
// "/memfd:NAME (deleted)"), mapped private: kept across fork, and a child's
// writes are its own. Not locked, not wiped: for what holds no secret (the
// stats page). nullptr, with *error the errno, when memfd_create, ftruncate or
// mmap is refused; not counted in mmap_failures (no draw depends on it).
void *MapNamedPage(const char *name, int *error);

// Locks an existing segment again (locks are not inherited across fork).
bool LockSegment(void *base, size_t bytes);

// Gives a locked segment's memory back while it stays mapped: unlocked (and
// counted so), its pages discarded (the next touch reads zeros, and takes no
// memory until written). The caller has wiped what it held (the discard is
// not a write other threads' loads of a header could race with).
// False (and nothing done) when munlock refuses.
bool ParkSegment(void *base, size_t bytes);

// True when madvise rejects an unknown advice and accepts MADV_WIPEONFORK:
// some emulators and sandboxes accept any advice and do nothing. Probed once.
bool WipeOnForkWorks();

// One page, wiped in a child after fork; nullptr (counted in mmap_failures)
// when WipeOnForkWorks() is false or the mapping is refused.
void *MapCanaryPage();

size_t PageBytes();

// The memory calls, replaceable by tests to inject failures.
struct MemoryOps {
  void *(*map)(size_t bytes, int prot, int flags);  // anonymous mmap; MAP_FAILED on error
  int (*unmap)(void *addr, size_t bytes);
  int (*advise)(void *addr, size_t bytes, int advice);
  int (*lock)(void *addr, size_t bytes);
};
// Tests only: must precede the first draw.
void SetMemoryOpsForTesting(const MemoryOps *ops);
const MemoryOps &DefaultMemoryOps();

}  // namespace grndpool
