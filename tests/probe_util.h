// SPDX-License-Identifier: Apache-2.0
// What the whole-process probes (edge_probe, fork_probe, start_up_probe)
// share: failing with one line, forking either way, waiting with a limit,
// and checking words.
#pragma once

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char **environ;

namespace grndpool::test {

// The probe's name, for its one line on failure.
inline const char *g_probe_name = "probe";

inline int Fail(const std::string &what) {
  fprintf(stderr, "%s: %s\n", g_probe_name, what.c_str());
  return 1;
}

// Sorts in place: a raw fork's child of a threaded process must not malloc.
inline bool UniqueNonzero(uint64_t *v, size_t n) {
  if (std::count(v, v + n, 0u) != 0) return false;
  std::sort(v, v + n);
  return std::adjacent_find(v, v + n) == v + n;
}
inline bool UniqueNonzero(std::vector<uint64_t> v) {
  return UniqueNonzero(v.data(), v.size());
}

// glibc's fork(), or the raw system call (no atfork handler runs).
inline pid_t Fork(bool raw) {
  return raw ? static_cast<pid_t>(syscall(SYS_fork)) : ::fork();
}

// The child's exit status, or 128 + its signal.
inline int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

inline void SpinFor(uint64_t ns) {
  const uint64_t end = NowNs() + ns;
  while (NowNs() < end) {
  }
}

// Waits for `pid` at most `seconds`: its wait status, or -1 after killing it.
// A hung child's threads' stacks on stderr (through gdb, when it is
// installed), printed before it is killed: a hang seen once, in CI, then
// says where it was.
inline void PrintStacksOf(pid_t pid) {
  char command[192];
  snprintf(command, sizeof command,
           "command -v gdb >/dev/null && timeout 30 gdb -q -batch -nx -p %d "
           "-ex 'thread apply all bt 24' </dev/null 1>&2 2>/dev/null",
           static_cast<int>(pid));
  fprintf(stderr, "--- stacks of the hung process %d ---\n", static_cast<int>(pid));
  fflush(stderr);
  if (system(command) != 0) fprintf(stderr, "(no stacks: gdb missing or it failed)\n");
  fprintf(stderr, "--- end of stacks ---\n");
}

inline int WaitAtMost(pid_t pid, int seconds) {
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds) * 1000000000u;
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return -2;
    if (NowNs() > deadline) {
      PrintStacksOf(pid);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(1000);
  }
}

// Sends `signo` to thread `tid` every `period_ns` through a kernel timer (it
// keeps firing when the machine is busy, unlike a sender thread), with
// `handler` installed first unless it is nullptr (SA_RESTART, nothing
// masked). False when the timer could not be made; timer_delete() ends it.
inline bool StartSignalStorm(int signo, void (*handler)(int), pid_t tid, long period_ns,
                             timer_t *timer) {
  if (handler != nullptr) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, nullptr) != 0) return false;
  }
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = signo;
  sev._sigev_un._tid = tid;
  if (timer_create(CLOCK_MONOTONIC, &sev, timer) != 0) return false;
  const itimerspec every{{0, period_ns}, {0, period_ns}};
  return timer_settime(*timer, 0, &every, nullptr) == 0;
}

inline std::string DescribeStatus(int status) {
  if (status == -1) return "hung (killed after the time limit)";
  if (WIFSIGNALED(status)) return std::string("died of ") + strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

// Runs this program again with `args` (a fresh process: start-up happens once
// per process); its wait status (-1: hung).
inline int RunSelf(const std::vector<std::string> &args, int seconds) {
  std::vector<char *> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) return -2;
  return WaitAtMost(pid, seconds);
}

}  // namespace grndpool::test
