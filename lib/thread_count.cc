// SPDX-License-Identifier: Apache-2.0
#include "lib/thread_count.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace grndpool {
namespace {

std::atomic<size_t (*)()> g_count_for_testing{nullptr};

// num_threads, the 20th field of /proc/self/stat, counted from the last ')'
// (the command name before it may hold spaces and parentheses): 0 if absent.
size_t NumThreadsField(const char *stat, size_t len) {
  const char *end = stat + len;
  const char *p = end;
  while (p > stat && p[-1] != ')') --p;
  if (p == stat) return 0;
  // p is past ')': field 3 (state) follows a space; num_threads is 17 more on.
  for (int spaces = 0; p < end && spaces < 18; ++p)
    if (*p == ' ') ++spaces;
  size_t n = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) n = n * 10 + static_cast<size_t>(*p - '0');
  return n;
}

}  // namespace

size_t ProcessThreads() {
  if (size_t(*count)() = g_count_for_testing.load(std::memory_order_acquire)) return count();
  // Raw system calls: libc's open, read and close are cancellation points
  // (a cancel here, under the directory's lock with a segment's budget
  // taken, would lose both) and may be wrapped by a preloaded library that
  // is not safe in a signal handler.
  const int saved = errno;
  size_t threads = 0;
  const long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char stat[1024];
    const long got = syscall(SYS_read, fd, stat, sizeof stat);
    if (got > 0) threads = NumThreadsField(stat, static_cast<size_t>(got));
    syscall(SYS_close, fd);
  }
  errno = saved;
  return threads;
}

void SetProcessThreadsForTesting(size_t (*count)()) {
  g_count_for_testing.store(count, std::memory_order_release);
}

}  // namespace grndpool
