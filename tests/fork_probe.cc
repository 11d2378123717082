// SPDX-License-Identifier: Apache-2.0
// Forks at the edges, each case in a process of its own, through the public
// API only (so the same source also runs against older builds):
//
//   fork_probe fork-new-thread [raw]   a child's new thread and the forking thread
//                                      must never share a slice
//   fork_probe fork-in-handler [raw]   fork (or raw SYS_fork) from a signal handler
//                                      that interrupted draws: no zero word in the
//                                      child, nothing the parent also served
//   fork_probe clone-then-fork         raw clone while another thread holds the
//                                      library's lock, then fork() in the child
//   fork_probe handler-draw-while-forking
//                                      a handler draws (taking a library lock) on a
//                                      thread inside malloc while another forks
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <malloc.h>
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

// Defect 1: after fork the forking thread kept its parent-side slice, which a
// new thread of the child then claimed and refilled too.
int ForkNewThread(bool raw) {
  (void)grndpool_u64();  // the main thread owns a warm slice
  for (int round = 0; round < 50; ++round) {
    const pid_t pid = Fork(raw);
    if (pid == 0) {
      constexpr int kWords = 4000;
      std::vector<uint64_t> mine(kWords), theirs(kWords);
      std::atomic<bool> claimed{false};
      std::atomic<bool> go{false};
      std::thread t([&] {
        theirs[0] = grndpool_u64();  // claims a slice first
        claimed = true;
        while (!go) std::this_thread::yield();
        for (int i = 1; i < kWords; ++i) theirs[i] = grndpool_u64();
      });
      while (!claimed) std::this_thread::yield();
      mine[0] = grndpool_u64();
      // Deterministic: the forking thread's first draw must take a slice of its
      // own, not serve from the one the new thread just claimed and filled.
      struct grndpool_stats s;
      memset(&s, 0, sizeof s);
      grndpool_get_stats(&s);
      if (s.slices_in_use < 2) _exit(2);
      go = true;
      for (int i = 1; i < kWords; ++i) mine[i] = grndpool_u64();
      t.join();
      mine.insert(mine.end(), theirs.begin(), theirs.end());
      _exit(UniqueNonzero(mine) ? 0 : 1);
    }
    if (pid < 0) return Fail("fork failed");
    const int status = WaitStatus(pid);
    if (status == 2) return Fail("the forking thread served from the slice a new thread claimed");
    if (status != 0) return Fail("a child's threads served a zero or repeated word");
  }
  return 0;
}

// Defect 2: fork from a signal handler that interrupted a draw.
constexpr int kForks = 300;
constexpr int kChildWords = 64;
std::atomic<int> g_forks{0};
volatile sig_atomic_t g_in_child = 0;
bool g_raw = false;
pid_t g_children[kForks];

// What a child sends back: the index of the parent's draw the fork
// interrupted, that draw's word as the child has it, and its next draws.
struct ChildReport {
  uint64_t index;
  uint64_t words[kChildWords];
};

// The loop's draw count, and its value at the last fork: a fork can take
// longer than the timer's period (ASan's shadow makes it slow), and the next
// signal, already pending, would interrupt the very same instruction again.
volatile size_t g_loop_draws = 0;
size_t g_last_fork_draws = ~size_t{0};

void ForkingHandler(int) {
  const int saved = errno;
  const int i = g_forks.load(std::memory_order_relaxed);
  if (i < kForks && !g_in_child && g_loop_draws != g_last_fork_draws) {
    g_last_fork_draws = g_loop_draws;
    const pid_t pid = Fork(g_raw);
    if (pid == 0) {
      g_in_child = 1;
      alarm(20);  // a child that hangs dies, and its parent counts it
    } else {
      g_children[i] = pid;
      g_forks.store(i + 1, std::memory_order_relaxed);
    }
  }
  errno = saved;
}

int ForkInHandler(bool raw) {
  g_raw = raw;
  // Start-up first: a fork inside OpenSSL's one-time initialisation can leave
  // its lock held in the child, which no library above OpenSSL can repair.
  (void)grndpool_u64();
  int fds[2];
  if (pipe(fds) != 0) return Fail("pipe");
  std::vector<uint64_t> parent(1 << 22);
  timer_t timer;
  if (!StartSignalStorm(SIGUSR1, ForkingHandler, static_cast<pid_t>(gettid()), 200000, &timer))
    return Fail("timer_create");
  size_t n = 0;
  for (; n < parent.size() && g_forks.load() < kForks; ++n) {
    g_loop_draws = n;
    parent[n] = grndpool_u64();
    if (g_in_child) {
      // The draw the fork interrupted (or the one after it), then a few more:
      // none may be zero, and the parent must not hold any of them, except
      // that the interrupted draw may be parent[n] itself: a fork that lands
      // after a draw's last check (or after it returned, before this line)
      // leaves both processes holding the word it decided before the fork.
      ChildReport report{static_cast<uint64_t>(n), {}};
      report.words[0] = parent[n];
      for (int k = 1; k < kChildWords; ++k) report.words[k] = grndpool_u64();
      bool zero = false;
      for (uint64_t w : report.words) zero |= w == 0;
      (void)!write(fds[1], &report, sizeof report);
      _exit(zero ? 1 : 0);
    }
  }
  timer_delete(timer);
  close(fds[1]);
  alarm(60);  // a child that hangs is a failure too
  std::vector<uint64_t> all(parent.begin(), parent.begin() + static_cast<long>(n));
  ChildReport report;
  int same_draw = 0;
  while (read(fds[0], &report, sizeof report) == static_cast<ssize_t>(sizeof report)) {
    const bool decided_before_fork = report.index < n && report.words[0] == parent[report.index];
    same_draw += decided_before_fork;
    all.insert(all.end(), report.words + (decided_before_fork ? 1 : 0), report.words + kChildWords);
  }
  int bad_children = 0;
  for (int i = 0; i < g_forks.load(); ++i) bad_children += WaitStatus(g_children[i]) != 0;
  fprintf(stderr,
          "edge_probe: %d forks from a handler, %d children saw zero words, %d held the word "
          "the parent's interrupted draw decided before the fork\n",
          g_forks.load(), bad_children, same_draw);
  if (g_forks.load() < kForks / 2) return Fail("too few forks happened");
  if (bad_children != 0) return Fail("a child's draw returned zero words");
  if (!UniqueNonzero(all)) return Fail("parent and child served the same word");
  return 0;
}

// A raw clone while another thread grows the slice directory (inside mlock,
// holding the library's lock), then fork() in the child before any draw: the
// prepare hook must not wait for a lock copied held by a thread that does not
// exist in the child (it deadlocked before the child reset first).
std::atomic<bool> g_slow_mlock{false};
std::atomic<bool> g_grower_in_mlock{false}, g_release_mlock{false};

// Starts n threads that each draw once (claiming a slice) and then sleep for
// the rest of the process; with `wait`, returns once all n have drawn.
std::atomic<int> g_drawers_drew{0};
void StartSleepingDrawers(int n, bool wait) {
  const int before = g_drawers_drew.load();
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void *) -> void * {
          (void)grndpool_u32();
          g_drawers_drew.fetch_add(1);
          pause();
          return nullptr;
        },
        nullptr);
  }
  while (wait && g_drawers_drew.load() < before + n) std::this_thread::yield();
}

int CloneThenFork() {
  (void)grndpool_u32();           // start-up; this thread takes a slice of the first segment
  StartSleepingDrawers(3, true);  // three more slices: the first segment is full
  g_slow_mlock = true;
  StartSleepingDrawers(8, false);
  // A grower is inside mlock, holding the directory's lock, until released.
  while (!g_grower_in_mlock.load()) std::this_thread::yield();
  const pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) {
    const pid_t grandchild = fork();
    if (grandchild == 0) _exit(0);
    _exit(WaitStatus(grandchild));
  }
  g_release_mlock = true;
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : Fail("the child failed");
    usleep(100000);
  }
  kill(pid, SIGKILL);
  WaitStatus(pid);
  return Fail("fork() in a raw-clone child deadlocked (10 s)");
}

// A signal handler draws on a thread interrupted inside malloc (holding an
// arena's lock) while another thread is inside fork(): glibc's fork() runs
// the prepare hooks (which take the library's locks) and only then takes
// malloc's locks. A handler's draw that waited for a library lock held by the
// forking thread, which waits for the arena the handler's own thread holds,
// deadlocked both. Run with GRNDPOOL_STRATEGY=mutex: every slow-path draw
// then takes the one strategy lock. The experiment runs in a process of its
// own, waited for with a limit: a deadlock is reported, with stacks.
std::atomic<int> g_handler_draws{0};
std::atomic<bool> g_trimming{true};

void DrawingHandler(int) {
  const int saved = errno;
  (void)grndpool_u64();
  g_handler_draws.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

int HandlerDrawWhileForkingInner() {
  (void)grndpool_u64();  // start-up, before any thread or timer
  std::atomic<pid_t> trimmer_tid{0};
  // malloc_trim(0) walks every arena with its lock held: the thread spends
  // most of its time inside malloc holding a lock fork() will want.
  std::thread trimmer([&] {
    trimmer_tid = static_cast<pid_t>(gettid());
    while (g_trimming.load(std::memory_order_relaxed)) {
      void *p = malloc(64);
      free(p);
      malloc_trim(0);
    }
  });
  while (trimmer_tid.load() == 0) std::this_thread::yield();
  timer_t timer;
  if (!StartSignalStorm(SIGUSR1, DrawingHandler, trimmer_tid.load(), 100000, &timer))
    return Fail("timer_create");
  // Two threads fork at once: glibc runs their prepare hooks side by side,
  // so the fork count's parity cannot tell that a fork is under way.
  constexpr int kForks = 1000;
  std::atomic<int> failures{0};
  auto forker = [&failures] {
    for (int i = 0; i < kForks / 2; ++i) {
      const pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid < 0 || WaitStatus(pid) != 0) failures.fetch_add(1);
    }
  };
  std::thread second(forker);
  forker();
  second.join();
  if (failures.load() != 0) return Fail("a fork or a child failed");
  timer_delete(timer);
  g_trimming = false;
  trimmer.join();
  if (g_handler_draws.load() < 100) return Fail("too few handler draws (the storm missed)");
  fprintf(stderr, "fork_probe: %d forks, %d handler draws on the trimming thread\n", kForks,
          g_handler_draws.load());
  return 0;
}

int HandlerDrawWhileForking() {
  const int status = RunSelf({"handler-draw-while-forking", "--inner"}, 120);
  if (status == 0) return 0;
  return Fail("the forking process " + DescribeStatus(status) +
              (status == -1 ? ": a handler's draw and fork() waited for each other" : ""));
}

}  // namespace
}  // namespace grndpool::test

// Stands in for libc's mlock (the executable's definition wins): held when a
// case asks, to keep the library's lock across a clone.
extern "C" int mlock(const void *addr, size_t len) {
  using namespace grndpool::test;
  if (g_slow_mlock.load() && !g_grower_in_mlock.exchange(true)) {
    while (!g_release_mlock.load()) usleep(1000);
  }
  return static_cast<int>(syscall(SYS_mlock, addr, len));
}

int main(int argc, char **argv) {
  using namespace grndpool::test;
  g_probe_name = "fork_probe";
  const std::string cmd = argc > 1 ? argv[1] : "";
  const bool raw = argc > 2 && strcmp(argv[2], "raw") == 0;
  if (cmd == "fork-new-thread") return ForkNewThread(raw);
  if (cmd == "fork-in-handler") return ForkInHandler(raw);
  if (cmd == "clone-then-fork") return CloneThenFork();
  if (cmd == "handler-draw-while-forking")
    return argc > 2 && strcmp(argv[2], "--inner") == 0 ? HandlerDrawWhileForkingInner()
                                                       : HandlerDrawWhileForking();
  fprintf(stderr,
          "usage: fork_probe fork-new-thread [raw] | fork-in-handler [raw] | clone-then-fork | "
          "handler-draw-while-forking\n");
  return 2;
}
