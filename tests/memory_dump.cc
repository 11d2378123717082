// SPDX-License-Identifier: Apache-2.0
#include "tests/memory_dump.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>

namespace grndpool::test {
namespace {

// Prepared before the fork; the child uses nothing else (after SYS_fork in a
// threaded process it may not call malloc, and its own stack use would
// overwrite the dead frames below the forking thread's stack pointer, which
// are exactly what a careful attacker reads first).
constexpr size_t kMapsBytes = 8 << 20;
char g_maps[kMapsBytes];
constexpr size_t kVecPages = 1 << 18;  // mincore() covers 1 GiB per call
unsigned char g_vec[kVecPages];
alignas(16) uint8_t g_child_stack[256 << 10];
const uint8_t kZeroPage[4096] = {};
int g_dump_fd = -1;
ucontext_t g_fork_context, g_dump_context;

// Mappings this large are sanitizer shadow (terabytes): left out, counted.
constexpr uint64_t kHugeMapping = 64ull << 30;

__attribute__((no_sanitize("address", "thread", "undefined"))) bool WriteAll(const void *p,
                                                                             size_t n) {
  const auto *b = static_cast<const uint8_t *>(p);
  while (n > 0) {
    const long w = syscall(SYS_write, g_dump_fd, b, n);
    if (w <= 0) return false;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

__attribute__((no_sanitize("address", "thread", "undefined"))) void WriteSkipped(uint64_t bytes) {
  const DumpRecord r{kDumpSkippedMark, bytes};
  WriteAll(&r, sizeof r);
}

// Writes [p, p + n) to the image; a page the kernel will not copy (EFAULT)
// goes in as zeros, so records keep their length.
__attribute__((no_sanitize("address", "thread", "undefined"))) void WriteRun(uintptr_t p,
                                                                             size_t n) {
  const DumpRecord r{p, n};
  WriteAll(&r, sizeof r);
  while (n > 0) {
    const long w = syscall(SYS_write, g_dump_fd, reinterpret_cast<const void *>(p), n);
    if (w > 0) {
      p += static_cast<size_t>(w);
      n -= static_cast<size_t>(w);
      continue;
    }
    const size_t page = n < sizeof kZeroPage ? n : sizeof kZeroPage;
    WriteAll(kZeroPage, page);
    p += page;
    n -= page;
  }
}

__attribute__((no_sanitize("address", "thread", "undefined"))) uint64_t Hex(const char **s) {
  uint64_t v = 0;
  for (;; ++*s) {
    const char c = **s;
    if (c >= '0' && c <= '9')
      v = v * 16 + static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    else
      return v;
  }
}

__attribute__((no_sanitize("address", "thread", "undefined"))) bool Contains(const char *line,
                                                                             const char *end,
                                                                             const char *what) {
  const size_t n = strlen(what);
  for (const char *p = line; p + n <= end; ++p)
    if (memcmp(p, what, n) == 0) return true;
  return false;
}

// Every resident page of every readable mapping (the kernel's own [vvar] and
// [vsyscall] pages aside), as records.
__attribute__((no_sanitize("address", "thread", "undefined"))) int DumpSelf() {
  const int maps = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY));
  if (maps < 0) return 3;
  size_t used = 0;
  for (;;) {
    const long r = syscall(SYS_read, maps, g_maps + used, kMapsBytes - 1 - used);
    if (r <= 0) break;
    used += static_cast<size_t>(r);
  }
  syscall(SYS_close, maps);
  g_maps[used] = '\0';
  const size_t page = 4096;
  for (const char *line = g_maps; *line != '\0';) {
    const char *eol = line;
    while (*eol != '\n' && *eol != '\0') ++eol;
    const char *p = line;
    const uint64_t lo = Hex(&p);
    ++p;
    const uint64_t hi = Hex(&p);
    const bool readable = p[1] == 'r';
    // Terabytes of sanitizer shadow (the only mappings this large) are left
    // out and counted; the positive controls show what remains is enough.
    const bool huge = hi - lo > kHugeMapping;
    if (readable && huge) WriteSkipped(hi - lo);
    if (readable && !huge && !Contains(line, eol, "[vvar") && !Contains(line, eol, "[vsyscall]")) {
      for (uint64_t chunk = lo; chunk < hi; chunk += kVecPages * page) {
        const uint64_t chunk_end = hi - chunk < kVecPages * page ? hi : chunk + kVecPages * page;
        const size_t pages = static_cast<size_t>((chunk_end - chunk) / page);
        if (syscall(SYS_mincore, chunk, chunk_end - chunk, g_vec) != 0) continue;
        for (size_t i = 0; i < pages;) {
          if ((g_vec[i] & 1) == 0) {
            ++i;
            continue;
          }
          size_t j = i;
          while (j < pages && (g_vec[j] & 1) != 0) ++j;
          WriteRun(static_cast<uintptr_t>(chunk + i * page), (j - i) * page);
          i = j;
        }
      }
    }
    line = *eol == '\n' ? eol + 1 : eol;
  }
  return 0;
}

// The glibc fork() child switches to g_child_stack at once and dumps there.
__attribute__((no_sanitize("address", "thread", "undefined"))) void DumpOnOwnStack() {
  syscall(SYS_exit_group, DumpSelf());
}

// The raw clone child starts on g_child_stack.
__attribute__((no_sanitize("address", "thread", "undefined"))) int CloneChild(void *) {
  return DumpSelf();
}

}  // namespace

pid_t ForkAndDump(int fd, bool raw) {
  g_dump_fd = fd;
  if (raw) return clone(CloneChild, g_child_stack + sizeof g_child_stack, SIGCHLD, nullptr);
  getcontext(&g_dump_context);
  g_dump_context.uc_stack.ss_sp = g_child_stack;
  g_dump_context.uc_stack.ss_size = sizeof g_child_stack;
  g_dump_context.uc_link = nullptr;
  makecontext(&g_dump_context, DumpOnOwnStack, 0);
  const pid_t pid = fork();
  if (pid == 0) swapcontext(&g_fork_context, &g_dump_context);  // does not return
  return pid;
}

}  // namespace grndpool::test
