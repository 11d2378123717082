#include "slab_segment.h"

#include <sys/mman.h>

#include <cerrno>

namespace grndpool {

SegmentMapping MapSegment(size_t bytes) {
  SegmentMapping m;
  void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return m;
  // Without WIPEONFORK a child could serve its parent's bytes; refuse the memory
  // rather than rely on the slower getpid() check. (Linux >= 4.14 has it.)
  if (madvise(base, bytes, MADV_WIPEONFORK) != 0) {
    munmap(base, bytes);
    return m;
  }
  (void)madvise(base, bytes, MADV_DONTDUMP);  // best effort: only affects core dumps
  m.base = base;
  m.locked = LockSegment(base, bytes);
  return m;
}

bool LockSegment(void *base, size_t bytes) {
  const int saved_errno = errno;
  const bool ok = mlock(base, bytes) == 0;
  errno = saved_errno;
  return ok;
}

}  // namespace grndpool
