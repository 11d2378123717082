// SPDX-License-Identifier: Apache-2.0
// Attacks at the edges, each in a process of its own, through the public API
// only (so the same source also runs against older builds of the library):
//
//   edge_probe fork-new-thread [raw]   a child's new thread and the forking thread
//                                      must never share a slice
//   edge_probe fork-in-handler [raw]   fork (or raw SYS_fork) from a signal handler
//                                      that interrupted draws: no zero word in the
//                                      child, nothing the parent also served
//   edge_probe urcu                    draws inside the application's own liburcu-bp
//                                      read-side sections, and urcu_bp fork hooks
//                                      called by the application around fork()
//   edge_probe tsd-destructor          draws from a later pthread key destructor
//                                      must not leak slices
//   edge_probe first-draw-signal       a signal handler draws during the first draw
//   edge_probe no-keys                 every pthread key in use before the first draw
//   edge_probe clone-then-fork         raw clone while another thread holds the
//                                      library's lock, then fork() in the child
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu-bp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"

namespace {

int Fail(const char *what) {
  fprintf(stderr, "edge_probe: %s\n", what);
  return 1;
}

bool UniqueNonzero(std::vector<uint64_t> v) {
  if (std::count(v.begin(), v.end(), 0u) != 0) return false;
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) == v.end();
}

pid_t Fork(bool raw) {
  return raw ? static_cast<pid_t>(syscall(SYS_fork)) : fork();
}

int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

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
  struct sigaction sa {};
  sa.sa_handler = ForkingHandler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGUSR1;
  sev._sigev_un._tid = static_cast<pid_t>(gettid());
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) return Fail("timer_create");
  itimerspec every{{0, 200000}, {0, 200000}};
  timer_settime(timer, 0, &every, nullptr);
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

// Defect 5: draws inside the application's own read-side sections, with enough
// threads to make the slice directory grow several times, and the application
// calling liburcu's fork hooks itself.
int Urcu() {
  alarm(60);  // a hang is the failure: SIGALRM ends the process
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::atomic<int> drawn{0};
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&] {
      rcu_read_lock();
      (void)grndpool_u32();
      rcu_read_unlock();
      drawn.fetch_add(1);
      while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (drawn.load() <= i) std::this_thread::yield();
  }
  rcu_read_lock();
  (void)grndpool_u64();
  rcu_read_unlock();
  done = true;
  for (auto &t : threads) t.join();
  urcu_bp_before_fork();
  const pid_t pid = fork();
  if (pid == 0) {
    urcu_bp_after_fork_child();
    _exit(grndpool_u64() != 0 ? 0 : 1);
  }
  urcu_bp_after_fork_parent();
  return WaitStatus(pid) == 0 ? 0 : Fail("the child of an urcu-bp fork failed");
}

// Defect 6c: a pthread key destructor that runs after the library's draws.
pthread_key_t g_app_key;
void AppDestructor(void *) {
  (void)grndpool_u32();
}

int TsdDestructor() {
  (void)grndpool_u32();  // the library's key is created first, so it runs first
  if (pthread_key_create(&g_app_key, AppDestructor) != 0) return Fail("pthread_key_create");
  constexpr int kThreads = 3000;  // more than the default budget's 2044 slices
  for (int i = 0; i < kThreads; i += 50) {
    std::vector<std::thread> batch;
    for (int k = 0; k < 50; ++k)
      batch.emplace_back([] {
        (void)grndpool_u32();
        pthread_setspecific(g_app_key, reinterpret_cast<void *>(1));
      });
    for (auto &t : batch) t.join();
  }
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
  grndpool_get_stats(&s);
  fprintf(stderr, "edge_probe: slices in use after %d exits: %llu\n", kThreads,
          static_cast<unsigned long long>(s.slices_in_use));
  return s.slices_in_use <= 2 ? 0 : Fail("slices claimed in destructors were never released");
}

// Defect 8: a signal handler draws while the process's first draw initialises.
void DrawingHandler(int) {
  const int saved = errno;
  (void)grndpool_u64();
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

// Defect 9: no pthread key left for the library.
int NoKeys() {
  std::vector<pthread_key_t> keys;
  pthread_key_t k;
  while (pthread_key_create(&k, nullptr) == 0) keys.push_back(k);
  for (size_t i = 0; i < keys.size(); ++i)
    pthread_setspecific(keys[i], reinterpret_cast<void *>(i + 1));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([] {
      uint8_t buf[3000];
      for (int j = 0; j < 100; ++j) grndpool_buf(buf, sizeof buf);
    });
  for (auto &t : threads) t.join();
  std::vector<uint64_t> words(2000);
  for (auto &w : words) w = grndpool_u64();
  for (size_t i = 0; i < keys.size(); ++i)
    if (pthread_getspecific(keys[i]) != reinterpret_cast<void *>(i + 1))
      return Fail("the library wrote another library's pthread key");
  const std::string line = grndpool_describe();
  fprintf(stderr, "edge_probe: %s\n", line.c_str());
  if (line.find("kernel-only") == std::string::npos)
    return Fail("describe does not say draws are kernel-only");
  return UniqueNonzero(words) ? 0 : Fail("zero or repeated word");
}

// A raw clone while another thread grows the slice directory (inside mlock,
// holding the library's lock), then fork() in the child before any draw: the
// prepare hook must not wait for a lock copied held by a thread that does not
// exist in the child (it deadlocked before the child reset first).
std::atomic<bool> g_slow_mlock{false};
std::atomic<bool> g_grower_in_mlock{false}, g_release_mlock{false};

// Starts n threads that each draw once (claiming a slice) and then sleep for
// the rest of the process.
void StartSleepingDrawers(int n) {
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void *) -> void * {
          (void)grndpool_u32();
          pause();
          return nullptr;
        },
        nullptr);
  }
}

int CloneThenFork() {
  (void)grndpool_u32();     // start-up; this thread takes a slice of the first segment
  StartSleepingDrawers(3);  // three more slices: the first segment is full
  usleep(100000);
  g_slow_mlock = true;
  StartSleepingDrawers(8);
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

}  // namespace

// Stands in for libc's mlock (the executable's definition wins): slow when
// a case asks, to hold the library's lock across a clone.
extern "C" int mlock(const void *addr, size_t len) {
  if (g_slow_mlock.load() && !g_grower_in_mlock.exchange(true)) {
    while (!g_release_mlock.load()) usleep(1000);
  }
  return static_cast<int>(syscall(SYS_mlock, addr, len));
}

extern "C" char *getenv(const char *name) {
  return Lookup("getenv", name);
}
extern "C" char *secure_getenv(const char *name) {
  return Lookup("secure_getenv", name);
}

int main(int argc, char **argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  const bool raw = argc > 2 && strcmp(argv[2], "raw") == 0;
  if (cmd == "fork-new-thread") return ForkNewThread(raw);
  if (cmd == "fork-in-handler") return ForkInHandler(raw);
  if (cmd == "urcu") return Urcu();
  if (cmd == "tsd-destructor") return TsdDestructor();
  if (cmd == "first-draw-signal") return FirstDrawSignal();
  if (cmd == "no-keys") return NoKeys();
  if (cmd == "clone-then-fork") return CloneThenFork();
  fprintf(stderr,
          "usage: edge_probe fork-new-thread [raw] | fork-in-handler [raw] | "
          "urcu | tsd-destructor | first-draw-signal | no-keys\n");
  return 2;
}
