// SPDX-License-Identifier: Apache-2.0
// lib/thread_count: the process's thread count as the kernel gives it, read
// past a command name built to mislead the parser, and 0 (errno kept) when
// /proc/self/status cannot be opened.
#include <gtest/gtest.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "lib/thread_count.h"

namespace grndpool::test {
namespace {

// "Threads:" of /proc/self/status: the same count, by another parser.
size_t StatusThreads() {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t n = 0;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "Threads: %zu", &n) == 1) break;
  fclose(f);
  return n;
}

// The kernel lowers its count a little after pthread_join returns (the
// exiting thread wakes the joiner before it is released): waits for it.
bool CountComesBackTo(size_t n) {
  for (int i = 0; i < 2000 && ProcessThreads() != n; ++i) usleep(1000);
  return ProcessThreads() == n;
}

TEST(ThreadCount, FollowsTheThreadsTheProcessHas) {
  // A thread made and joined first: ThreadSanitizer starts a thread of its
  // own at the first pthread_create.
  std::thread([] {}).join();
  ASSERT_TRUE(CountComesBackTo(StatusThreads()));
  const size_t before = ProcessThreads();
  ASSERT_GE(before, 1u);
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < 37; ++i)
    pool.emplace_back([&] {
      started.fetch_add(1);
      while (!stop.load()) std::this_thread::yield();
    });
  while (started.load() < 37) std::this_thread::yield();
  EXPECT_EQ(ProcessThreads(), before + 37);
  EXPECT_EQ(ProcessThreads(), StatusThreads());
  stop = true;
  for (std::thread &t : pool) t.join();
  EXPECT_TRUE(CountComesBackTo(before)) << ProcessThreads() << " threads, not " << before;
}

// Run in a child: the main thread's name is the process's command name.
int InChild(int (*body)()) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// A command name may hold anything but NUL: one built like the line the
// count is read from must not be taken for it (the kernel escapes its
// newline), nor one built like /proc/self/stat's fields.
TEST(ThreadCount, ACommandNameThatLooksLikeFieldsIsSkipped) {
  EXPECT_EQ(InChild([] {
              prctl(PR_SET_NAME, "x\nThreads:\t99", 0, 0, 0);
              std::atomic<bool> stop{false};
              std::thread t([&] {
                while (!stop.load()) std::this_thread::yield();
              });
              const size_t n = ProcessThreads(), status = StatusThreads();
              stop = true;
              t.join();
              return n >= 2 && n == status ? 0 : 1;
            }),
            0);
}

// No descriptor free: 0, and errno as it was (a draw may run in a signal
// handler, whose caller's errno must survive).
TEST(ThreadCount, NoDescriptorFreeGivesZeroAndKeepsErrno) {
  EXPECT_EQ(InChild([] {
              const rlimit none{0, 0};
              if (setrlimit(RLIMIT_NOFILE, &none) != 0) return 2;
              errno = 1234;
              const size_t n = ProcessThreads();
              return n == 0 && errno == 1234 ? 0 : 1;
            }),
            0);
  errno = 4321;
  EXPECT_GE(ProcessThreads(), 1u);
  EXPECT_EQ(errno, 4321);
}

}  // namespace
}  // namespace grndpool::test
