// SPDX-License-Identifier: Apache-2.0
// The process's first draw raced by exit() and by fork(), and a child whose
// signal handler draws while its thread reads the counters. Each case runs
// many fresh processes (this program, re-executed), since start-up happens
// once per process. Through the public API only.
//
//   start_up_probe exit-during-first-draw     exit() while another thread makes
//                                             the first draw: no crash
//   start_up_probe fork-during-first-draw [raw]
//                                             fork() (or raw SYS_fork) while other
//                                             threads make their first draws: the
//                                             child draws, distinct nonzero words
//   start_up_probe handler-draw-in-stats      in a fork child, a signal handler
//                                             draws while its thread is inside
//                                             grndpool_stats(): no hang
//   start_up_probe handler-draw-before-atfork-child
//                                             a fork() child's handler draws
//                                             before the library's atfork child
//                                             handler ran: no hang, nonzero
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"

extern char **environ;

namespace {

int Fail(const std::string &what) {
  fprintf(stderr, "start_up_probe: %s\n", what.c_str());
  return 1;
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void SpinFor(uint64_t ns) {
  const uint64_t end = NowNs() + ns;
  while (NowNs() < end) {
  }
}

// Waits for `pid` at most `seconds`; its status, or -1 after killing it.
int WaitAtMost(pid_t pid, int seconds) {
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds) * 1000000000u;
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return -2;
    if (NowNs() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(1000);
  }
}

std::string Describe(int status) {
  if (status == -1) return "hung (killed after the time limit)";
  if (WIFSIGNALED(status)) return std::string("died of ") + strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

// Runs this program again with `args`; its wait status (-1: hung).
int RunSelf(const std::vector<std::string> &args, int seconds) {
  std::vector<char *> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) return -2;
  return WaitAtMost(pid, seconds);
}

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
    if (bad++ == 0) first = Describe(status) + " with exit() " + std::to_string(delay) + " ns in";
  }
  fprintf(stderr, "start_up_probe: %d of %d processes failed\n", bad, kRuns);
  return bad == 0 ? 0 : Fail("exit() racing the first draw: " + first);
}

// ---- fork() during the first draw ----------------------------------------

// Sorts in place: a raw fork's child of a threaded process must not malloc.
bool UniqueNonzero(uint64_t *v, size_t n) {
  if (std::count(v, v + n, 0u) != 0) return false;
  std::sort(v, v + n);
  return std::adjacent_find(v, v + n) == v + n;
}

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
  fprintf(stderr, "child %s\n", Describe(status).c_str());
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
                                                               : Describe(status));
  }
  fprintf(stderr, "start_up_probe: %d of %d processes failed (%s fork)\n", bad, kRuns,
          raw ? "raw" : "glibc");
  return bad == 0 ? 0 : Fail("fork during the first draws: " + first);
}

// ---- a handler's draw inside grndpool_stats() in a child ----------------

volatile sig_atomic_t g_handler_draws = 0;

void DrawingHandler(int) {
  const int saved = errno;
  if (grndpool_u64() != 0) g_handler_draws = g_handler_draws + 1;
  errno = saved;
}

// A thread of the child reads the counters in a loop while a timer signals
// it; the handler's first draw on the thread claims a slice.
int StatsLoopWithSignals() {
  int result = 0;
  std::thread t([&] {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = static_cast<pid_t>(gettid());
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
      result = 2;
      return;
    }
    itimerspec every{{0, 20000}, {0, 20000}};
    timer_settime(timer, 0, &every, nullptr);
    struct grndpool_stats s;
    const uint64_t end = NowNs() + 20000000u;
    while (NowNs() < end || g_handler_draws < 5) {
      memset(&s, 0, sizeof s);
      grndpool_get_stats(&s);
    }
    timer_delete(timer);
  });
  t.join();
  return result;
}

int HandlerDrawInStats() {
  struct sigaction sa {};
  sa.sa_handler = DrawingHandler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  // Slices in use, so the child has a directory to read.
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i) warm.emplace_back([] { (void)grndpool_u64(); });
  for (auto &t : warm) t.join();
  constexpr int kChildren = 40;
  int hung = 0, failed = 0;
  for (int i = 0; i < kChildren; ++i) {
    const pid_t pid = fork();
    if (pid == 0) _exit(StatsLoopWithSignals());
    const int status = WaitAtMost(pid, 10);
    if (status == -1)
      ++hung;
    else if (status != 0)
      ++failed;
  }
  fprintf(stderr, "start_up_probe: %d of %d children hung, %d failed\n", hung, kChildren, failed);
  if (hung != 0) return Fail("a handler's draw hung inside grndpool_stats() in a child");
  return failed == 0 ? 0 : Fail("a child failed");
}

// ---- a handler's draw in a fork() child before the library's atfork handler

// The application's own atfork child handler, registered before the
// library's (before the first draw), runs first in the child: a signal it
// raises is handled, and draws, before the library has reset the child.
volatile sig_atomic_t g_child_handler_drew = 0;
void RaiseInChild() {
  g_child_handler_drew = 0;
  raise(SIGUSR1);
}
void DrawingHandlerInChild(int) {
  const int saved = errno;
  g_child_handler_drew = grndpool_u64() != 0 ? 1 : 2;
  errno = saved;
}

int HandlerDrawBeforeAtforkChild() {
  struct sigaction sa {};
  sa.sa_handler = DrawingHandlerInChild;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  pthread_atfork(nullptr, nullptr, RaiseInChild);
  std::vector<std::thread> warm;  // start-up, and slices in use
  for (int i = 0; i < 4; ++i) warm.emplace_back([] { (void)grndpool_u64(); });
  for (auto &t : warm) t.join();
  int bad = 0;
  std::string first;
  for (int i = 0; i < 20; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (g_child_handler_drew != 1) _exit(3);      // the handler did not run, or drew zero
      std::thread t([] { (void)grndpool_u64(); });  // the child resets and serves threads
      t.join();
      _exit(grndpool_u64() != 0 ? 0 : 4);
    }
    const int status = WaitAtMost(pid, 10);
    if (status != 0 && bad++ == 0)
      first = WIFEXITED(status) && WEXITSTATUS(status) == 3 ? "the handler did not draw"
                                                            : Describe(status);
  }
  return bad == 0 ? 0 : Fail(std::to_string(bad) + " of 20 children failed: " + first);
}

}  // namespace

int main(int argc, char **argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "exit-once" && argc == 3) return ExitOnce(strtoull(argv[2], nullptr, 10));
  if (cmd == "fork-once" && argc == 4)
    return ForkOnce(strtoull(argv[2], nullptr, 10), strcmp(argv[3], "raw") == 0);
  if (cmd == "exit-during-first-draw") return ExitDuringFirstDraw();
  if (cmd == "fork-during-first-draw")
    return ForkDuringFirstDraw(argc > 2 && strcmp(argv[2], "raw") == 0);
  if (cmd == "handler-draw-in-stats") return HandlerDrawInStats();
  if (cmd == "handler-draw-before-atfork-child") return HandlerDrawBeforeAtforkChild();
  fprintf(stderr,
          "usage: start_up_probe exit-during-first-draw | fork-during-first-draw [raw] | "
          "handler-draw-in-stats | handler-draw-before-atfork-child\n");
  return 2;
}
