// SPDX-License-Identifier: Apache-2.0
// Signal handlers that draw at awkward moments, each case in a process of its
// own, through the public API only:
//
//   signal_probe first-draw-signal     a handler draws on the thread running the
//                                      process's first draw (start-up), while
//                                      another thread's first draw meets it running
//   signal_probe handler-draw-in-stats in a fork child, a handler draws while its
//                                      thread is inside grndpool_stats()
//   signal_probe handler-draw-before-atfork-child
//                                      a fork() child's handler draws before the
//                                      library's atfork child handler ran
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <dlfcn.h>
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

// ---- a handler's draw during the process's first draw --------------------

// Counts its draws (nonzero words only).
volatile sig_atomic_t g_handler_draws = 0;
void DrawingHandler(int) {
  const int saved = errno;
  if (grndpool_u64() != 0) g_handler_draws = g_handler_draws + 1;
  errno = saved;
}

// The library reads its options during start-up: this program's getenv and
// secure_getenv stand in for libc's (the executable's definitions win) and
// raise the signal from inside the first lookup, so the handler runs on the
// initialising thread, in the middle of start-up, every time.
std::atomic<bool> g_raise_in_getenv{false};
// Start-up is held inside the first lookup until the other thread has begun
// its own first draw (and 2 ms more): that draw meets start-up running.
std::atomic<bool> g_in_start_up{false}, g_other_drawing{false};
char *Lookup(const char *symbol, const char *name) {
  using Fn = char *(*)(const char *);
  static Fn real_getenv = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getenv"));
  static Fn real_secure = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "secure_getenv"));
  if (strncmp(name, "GRNDPOOL_", 9) == 0 && g_raise_in_getenv.exchange(false)) {
    raise(SIGUSR1);
    g_in_start_up = true;
    while (!g_other_drawing.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return (symbol[0] == 'g' ? real_getenv : real_secure)(name);
}

int FirstDrawSignal() {
  alarm(20);
  struct sigaction sa {};
  sa.sa_handler = DrawingHandler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  g_raise_in_getenv = true;
  // Another thread's first draw arrives while start-up runs.
  uint32_t other_word = 0;
  std::thread other([&] {
    while (!g_in_start_up.load()) std::this_thread::yield();
    g_other_drawing = true;
    other_word = grndpool_u32();
  });
  const uint64_t v = grndpool_u64();
  other.join();
  if (g_raise_in_getenv) return Fail("start-up read no GRNDPOOL_ variable");
  if (other_word == 0) return Fail("the other thread's first draw returned zero");
  return v != 0 ? 0 : Fail("zero word");
}

// ---- a handler's draw inside grndpool_stats() in a child ----------------

// A thread of the child reads the counters in a loop while a timer signals
// it; the handler's first draw on the thread claims a slice.
int StatsLoopWithSignals() {
  int result = 0;
  std::thread t([&] {
    timer_t timer;
    if (!StartSignalStorm(SIGUSR1, nullptr, static_cast<pid_t>(gettid()), 20000, &timer)) {
      result = 2;
      return;
    }
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
                                                            : DescribeStatus(status);
  }
  return bad == 0 ? 0 : Fail(std::to_string(bad) + " of 20 children failed: " + first);
}

}  // namespace
}  // namespace grndpool::test

// The library reads its options at start-up through these (the executable's
// definitions win over libc's): see Lookup.
extern "C" char *getenv(const char *name) {
  return grndpool::test::Lookup("getenv", name);
}
extern "C" char *secure_getenv(const char *name) {
  return grndpool::test::Lookup("secure_getenv", name);
}

int main(int argc, char **argv) {
  using namespace grndpool::test;
  g_probe_name = "signal_probe";
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "first-draw-signal") return FirstDrawSignal();
  if (cmd == "handler-draw-in-stats") return HandlerDrawInStats();
  if (cmd == "handler-draw-before-atfork-child") return HandlerDrawBeforeAtforkChild();
  fprintf(stderr,
          "usage: signal_probe first-draw-signal | handler-draw-in-stats | "
          "handler-draw-before-atfork-child\n");
  return 2;
}
