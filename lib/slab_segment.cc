// SPDX-License-Identifier: Apache-2.0
#include "lib/slab_segment.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/kernel/uapi.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

void *SysMap(size_t bytes, int prot, int flags) {
  return mmap(nullptr, bytes, prot, flags, -1, 0);
}
int SysUnmap(void *addr, size_t bytes) {
  return munmap(addr, bytes);
}
int SysAdvise(void *addr, size_t bytes, int advice) {
  return madvise(addr, bytes, advice);
}
int SysLock(void *addr, size_t bytes) {
  return mlock(addr, bytes);
}

const MemoryOps kSystemOps{SysMap, SysUnmap, SysAdvise, SysLock};
const MemoryOps *g_mem = &kSystemOps;

// Maps anonymous memory and applies the advice every buffer needs; nullptr
// when mmap or MADV_WIPEONFORK fails.
void *MapWiped(size_t bytes, int flags) {
  void *base = g_mem->map(bytes, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS);
  if (base == MAP_FAILED) return nullptr;
  // Without WIPEONFORK a child could serve its parent's bytes: refuse the memory.
  if (g_mem->advise(base, bytes, MADV_WIPEONFORK) != 0) {
    g_mem->unmap(base, bytes);
    return nullptr;
  }
  (void)g_mem->advise(base, bytes, MADV_DONTDUMP);  // best effort: only affects core dumps
  return base;
}

bool ProbeWipeOnFork() {
  const size_t page = PageBytes();
  void *p = g_mem->map(page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (p == MAP_FAILED) return false;
  // A kernel that accepts advice -1 accepts anything and proves nothing.
  const bool rejects_unknown = g_mem->advise(p, page, -1) != 0;
  const bool ok = rejects_unknown && g_mem->advise(p, page, MADV_WIPEONFORK) == 0;
  g_mem->unmap(p, page);
  return ok;
}

}  // namespace

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

bool WipeOnForkWorks() {
  static const bool works = ProbeWipeOnFork();
  return works;
}

SegmentMapping MapSegment(size_t bytes, bool allow_droppable) {
  const int saved_errno = errno;
  SegmentMapping m;
  if (WipeOnForkWorks()) m.base = MapWiped(bytes, MAP_PRIVATE);
  if (m.base == nullptr) {
    Count(g_counters.mmap_failures);
    errno = saved_errno;
    return m;
  }
  m.locked = LockSegment(m.base, bytes);
  if (!m.locked && allow_droppable) {
    // Droppable pages are wiped on fork and never dumped by the kernel itself.
    void *d = g_mem->map(bytes, PROT_READ | PROT_WRITE, kernel::kMapDroppable | MAP_ANONYMOUS);
    if (d != MAP_FAILED) {
      g_mem->unmap(m.base, bytes);
      m.base = d;
      m.droppable = true;
      Count(g_counters.droppable_bytes, bytes);
    }
  }
  CountLock(m.locked, bytes);
  errno = saved_errno;
  return m;
}

void UnmapSegment(const SegmentMapping &m, size_t bytes) {
  if (m.base == nullptr) return;
  explicit_bzero(m.base, bytes);
  if (m.locked) g_counters.locked_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  if (m.droppable) g_counters.droppable_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  g_mem->unmap(m.base, bytes);
}

void *MapPlain(size_t bytes) {
  void *p = g_mem->map(bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (p != MAP_FAILED) return p;
  Count(g_counters.mmap_failures);
  return nullptr;
}

void *MapWipedPlain(size_t bytes) {
  void *p = WipeOnForkWorks() ? MapWiped(bytes, MAP_PRIVATE) : nullptr;
  if (p == nullptr) Count(g_counters.mmap_failures);
  return p;
}

void UnmapPlain(void *p, size_t bytes) {
  if (p != nullptr) g_mem->unmap(p, bytes);
}

bool LockSegment(void *base, size_t bytes) {
  const int saved_errno = errno;
  const bool ok = g_mem->lock(base, bytes) == 0;
  errno = saved_errno;
  return ok;
}

bool ParkSegment(void *base, size_t bytes) {
  const int saved_errno = errno;
  const bool unlocked = munlock(base, bytes) == 0;
  if (unlocked) {
    g_counters.locked_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    g_mem->advise(base, bytes, MADV_DONTNEED);
  }
  errno = saved_errno;
  return unlocked;
}

void *MapNamedPage(const char *name, int *error) {
  const int saved_errno = errno;
  void *page = nullptr;
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, static_cast<off_t>(PageBytes())) == 0) {
    page = mmap(nullptr, PageBytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (page == MAP_FAILED) page = nullptr;
  }
  *error = page != nullptr ? 0 : errno;
  if (fd >= 0) close(fd);  // the mapping keeps the file
  errno = saved_errno;
  return page;
}

void *MapCanaryPage() {
  void *page = WipeOnForkWorks() ? MapWiped(PageBytes(), MAP_PRIVATE) : nullptr;
  if (page == nullptr) Count(g_counters.mmap_failures);
  return page;
}

void SetMemoryOpsForTesting(const MemoryOps *ops) {
  g_mem = ops != nullptr ? ops : &kSystemOps;
}

const MemoryOps &DefaultMemoryOps() {
  return kSystemOps;
}

}  // namespace grndpool
