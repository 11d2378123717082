// SPDX-License-Identifier: Apache-2.0
// The process's first draw, raced by exit() and by fork(). Each case runs many
// fresh processes (this program, re-executed), since start-up happens once
// per process. Through the public API only.
//
//   start_up_probe exit-during-first-draw     exit() while another thread makes
//                                             the first draw: no crash
//   start_up_probe fork-during-first-draw [raw]
//                                             fork() (or raw SYS_fork) while other
//                                             threads make their first draws: the
//                                             child draws, distinct nonzero words
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/probe_util.h"

namespace grndpool::test {
namespace {

// ---- exit() during the first draw ----------------------------------------

int ExitOnce(uint64_t delay_ns) {
  std::thread([] { (void)grndpool_u32(); }).detach();
  SpinFor(delay_ns);
  exit(0);  // runs atexit handlers and static destructors under the draw
}

int ExitDuringFirstDraw() {
  constexpr int kRuns = 300;
  int bad = 0;
  std::string first;
  for (int i = 0; i < kRuns; ++i) {
    // Spread over the first 2 ms: start-up takes well under that.
    const uint64_t delay = static_cast<uint64_t>(i) * 2000000u / kRuns;
    const int status = RunSelf({"exit-once", std::to_string(delay)}, 20);
    if (status == 0) continue;
    if (bad++ == 0)
      first = DescribeStatus(status) + " with exit() " + std::to_string(delay) + " ns in";
  }
  fprintf(stderr, "start_up_probe: %d of %d processes failed\n", bad, kRuns);
  return bad == 0 ? 0 : Fail("exit() racing the first draw: " + first);
}

// ---- fork() during the first draw ----------------------------------------

uint64_t g_child_words[4000];

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers' allocators have no fork handler: a child's pthread_create
// can wait forever for an allocator lock another parent thread held.
constexpr bool kChildThreads = false;
#else
constexpr bool kChildThreads = true;
#endif

// In the child: draws on this thread (and, after glibc's fork, on a new
// thread too); 0 when every word is nonzero and distinct.
int ChildDraws(bool raw) {
  constexpr size_t kWords = sizeof g_child_words / sizeof g_child_words[0];
  for (size_t i = 0; i < kWords / 2; ++i) g_child_words[i] = grndpool_u64();
  if (raw || !kChildThreads) {
    // A raw fork of a threaded process: no malloc, no threads here.
    for (size_t i = kWords / 2; i < kWords; ++i) g_child_words[i] = grndpool_u64();
  } else {
    std::thread t([] {
      for (size_t i = kWords / 2; i < kWords; ++i) g_child_words[i] = grndpool_u64();
    });
    t.join();
  }
  return UniqueNonzero(g_child_words, kWords) ? 0 : 3;
}

int ForkOnce(uint64_t delay_ns, bool raw) {
  for (int i = 0; i < 3; ++i) std::thread([] { (void)grndpool_u64(); }).detach();
  SpinFor(delay_ns);
  const pid_t pid = raw ? static_cast<pid_t>(syscall(SYS_fork)) : fork();
  if (pid < 0) return 2;
  if (pid == 0) _exit(ChildDraws(raw));
  const int status = WaitAtMost(pid, 10);
  if (status == 0) return 0;
  fprintf(stderr, "child %s\n", DescribeStatus(status).c_str());
  return status == -1 ? 4 : 5;
}

int ForkDuringFirstDraw(bool raw) {
  constexpr int kRuns = 200;
  int bad = 0;
  std::string first;
  for (int i = 0; i < kRuns; ++i) {
    const uint64_t delay = static_cast<uint64_t>(i) * 1500000u / kRuns;
    const int status = RunSelf({"fork-once", std::to_string(delay), raw ? "raw" : "glibc"}, 30);
    if (status == 0) continue;
    if (bad++ == 0)
      first = "with the fork " + std::to_string(delay) + " ns in: " +
              (WIFEXITED(status) && WEXITSTATUS(status) == 4   ? "the child hung"
               : WIFEXITED(status) && WEXITSTATUS(status) == 5 ? "the child failed"
                                                               : DescribeStatus(status));
  }
  fprintf(stderr, "start_up_probe: %d of %d processes failed (%s fork)\n", bad, kRuns,
          raw ? "raw" : "glibc");
  return bad == 0 ? 0 : Fail("fork during the first draws: " + first);
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  g_probe_name = "start_up_probe";
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "exit-once" && argc == 3) return ExitOnce(strtoull(argv[2], nullptr, 10));
  if (cmd == "fork-once" && argc == 4)
    return ForkOnce(strtoull(argv[2], nullptr, 10), strcmp(argv[3], "raw") == 0);
  if (cmd == "exit-during-first-draw") return ExitDuringFirstDraw();
  if (cmd == "fork-during-first-draw")
    return ForkDuringFirstDraw(argc > 2 && strcmp(argv[2], "raw") == 0);
  fprintf(stderr, "usage: start_up_probe exit-during-first-draw | fork-during-first-draw [raw]\n");
  return 2;
}
