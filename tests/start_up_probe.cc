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
//   start_up_probe fork-during-keystream-start [raw]
//                                             the same while other threads' draws
//                                             start libcrypto (GRNDPOOL_CHACHA20_AFTER
//                                             passed): the child draws past the
//                                             threshold too, no hang, no crash
//   start_up_probe handler-during-keystream-start
//                                             a signal raised from inside libcrypto's
//                                             start (GRNDPOOL_CHACHA20_AFTER passed
//                                             mid-run): its handler, which could fork
//                                             or draw, must not run until the start
//                                             is over (a child forked there resumed
//                                             OpenSSL's initialisation with a lock
//                                             held, and hung)
//   start_up_probe first-draw-cpu [LIMIT_US]
//                                             the CPU time (CLOCK_PROCESS_CPUTIME_ID)
//                                             of the first grndpool_u32() in 20 fresh
//                                             processes: median at most LIMIT_US
//                                             (default 200)
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

// The child's draws past the keystream threshold (set by the parent's run).
uint8_t g_child_bulk[32 * 1024];

int ForkOnce(uint64_t delay_ns, bool raw, bool keystream) {
  if (keystream) {
    (void)grndpool_u64();  // start-up done: the threads below start libcrypto
    for (int i = 0; i < 3; ++i)
      std::thread([] {
        static thread_local uint8_t chunk[16 * 1024];
        for (;;) grndpool_buf(chunk, sizeof chunk);
      }).detach();
  } else {
    for (int i = 0; i < 3; ++i) std::thread([] { (void)grndpool_u64(); }).detach();
  }
  SpinFor(delay_ns);
  const pid_t pid = raw ? static_cast<pid_t>(syscall(SYS_fork)) : fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    if (keystream)  // kernel bytes past the threshold: the child's own start, or none
      for (int i = 0; i < 12; ++i) grndpool_buf(g_child_bulk, sizeof g_child_bulk);
    _exit(ChildDraws(raw));
  }
  const int status = WaitAtMost(pid, 10);
  if (status == 0) return 0;
  fprintf(stderr, "child %s\n", DescribeStatus(status).c_str());
  return status == -1 ? 4 : 5;
}

// keystream: the fork races libcrypto's start (after 64 KiB of kernel bytes)
// instead of the library's.
int ForkDuringFirstDraw(bool raw, bool keystream) {
  constexpr int kRuns = 200;
  if (keystream) setenv("GRNDPOOL_CHACHA20_AFTER", "64K", 1);
  int bad = 0;
  std::string first;
  for (int i = 0; i < kRuns; ++i) {
    const uint64_t delay = static_cast<uint64_t>(i) * (keystream ? 1000000u : 1500000u) / kRuns;
    const int status = RunSelf({keystream ? "fork-once-keystream" : "fork-once",
                                std::to_string(delay), raw ? "raw" : "glibc"},
                               30);
    if (status == 0) continue;
    if (bad++ == 0)
      first = "with the fork " + std::to_string(delay) + " ns in: " +
              (WIFEXITED(status) && WEXITSTATUS(status) == 4   ? "the child hung"
               : WIFEXITED(status) && WEXITSTATUS(status) == 5 ? "the child failed"
                                                               : DescribeStatus(status));
  }
  fprintf(stderr, "start_up_probe: %d of %d processes failed (%s fork)\n", bad, kRuns,
          raw ? "raw" : "glibc");
  return bad == 0 ? 0
                  : Fail(std::string(keystream ? "fork during libcrypto's start: "
                                               : "fork during the first draws: ") +
                         first);
}

// ---- the first draw's CPU time --------------------------------------------

double CpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

int FirstDrawCpuOnce() {
  const double before = CpuMicros();
  const uint32_t word = grndpool_u32();
  const double after = CpuMicros();
  explicit_bzero(const_cast<uint32_t *>(&word), sizeof word);
  printf("%.1f\n", after - before);
  return 0;
}

// One median of kRuns fresh processes' first-draw CPU time; negative when a
// run failed.
double FirstDrawCpuMedian(const char *self, double *lo, double *hi) {
  constexpr int kRuns = 20;
  std::vector<double> us;
  for (int i = 0; i < kRuns; ++i) {
    FILE *p = popen((std::string("'") + self + "' first-draw-cpu-once").c_str(), "r");
    double v = 0;
    const bool read = p != nullptr && fscanf(p, "%lf", &v) == 1;
    if (p == nullptr || pclose(p) != 0 || !read) return -1;
    us.push_back(v);
  }
  std::sort(us.begin(), us.end());
  *lo = us.front();
  *hi = us.back();
  return (us[kRuns / 2 - 1] + us[kRuns / 2]) / 2;
}

// CPU time moves with whatever else the machine runs (a second CI beside
// this one took a 150 us median to 240-300): the best of three medians is
// taken, so a real regression fails all three and a busy minute does not.
int FirstDrawCpu(double limit_us) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return Fail("readlink /proc/self/exe");
  self[len] = '\0';
  double best = -1;
  for (int attempt = 0; attempt < 3 && (best < 0 || best > limit_us); ++attempt) {
    double lo = 0, hi = 0;
    const double median = FirstDrawCpuMedian(self, &lo, &hi);
    if (median < 0) return Fail("a first-draw-cpu-once run failed");
    printf(
        "start_up_probe: first grndpool_u32(): median %.1f us of CPU (min %.1f, max %.1f) over "
        "20 fresh processes; limit %.0f us\n",
        median, lo, hi, limit_us);
    if (best < 0 || median < best) best = median;
  }
  return best <= limit_us ? 0 : Fail("the first draw costs more CPU than the limit, 3 times");
}

}  // namespace
}  // namespace grndpool::test

namespace grndpool::test {
namespace {

// ---- a handler during libcrypto's start ----------------------------------

volatile sig_atomic_t g_in_openssl_init = 0;  // depth of OPENSSL_init_crypto calls
volatile sig_atomic_t g_raise_in_init = 0;
volatile sig_atomic_t g_handler_ran = 0, g_handler_ran_in_init = 0;

void NotingHandler(int) {
  g_handler_ran = 1;
  if (g_in_openssl_init > 0) g_handler_ran_in_init = 1;
}

int HandlerDuringKeystreamStart() {
  struct sigaction sa {};
  sa.sa_handler = NotingHandler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  (void)grndpool_u64();  // start-up, on kernel bytes (the threshold is not reached yet)
  if (g_in_openssl_init != 0 || g_handler_ran != 0) return Fail("libcrypto started too early");
  g_raise_in_init = 1;
  uint64_t acc = 0;
  for (int i = 0; i < (1 << 16) && g_handler_ran == 0; ++i) acc ^= grndpool_u64();
  explicit_bzero(&acc, sizeof acc);
  // Positive control: the signal was raised from inside the start and ran.
  if (g_handler_ran == 0) return Fail("libcrypto never started (is GRNDPOOL_CHACHA20_AFTER set?)");
  if (g_handler_ran_in_init != 0)
    return Fail("a signal handler ran on the thread starting libcrypto, inside its start");
  return 0;
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  g_probe_name = "start_up_probe";
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "exit-once" && argc == 3) return ExitOnce(strtoull(argv[2], nullptr, 10));
  if ((cmd == "fork-once" || cmd == "fork-once-keystream") && argc == 4)
    return ForkOnce(strtoull(argv[2], nullptr, 10), strcmp(argv[3], "raw") == 0,
                    cmd == "fork-once-keystream");
  if (cmd == "exit-during-first-draw") return ExitDuringFirstDraw();
  if (cmd == "handler-during-keystream-start") return HandlerDuringKeystreamStart();
  if (cmd == "first-draw-cpu-once") return FirstDrawCpuOnce();
  if (cmd == "first-draw-cpu") return FirstDrawCpu(argc > 2 ? strtod(argv[2], nullptr) : 200);
  const bool raw = argc > 2 && strcmp(argv[2], "raw") == 0;
  if (cmd == "fork-during-first-draw") return ForkDuringFirstDraw(raw, false);
  if (cmd == "fork-during-keystream-start") return ForkDuringFirstDraw(raw, true);
  fprintf(stderr,
          "usage: start_up_probe exit-during-first-draw | fork-during-first-draw [raw] | "
          "fork-during-keystream-start [raw] | handler-during-keystream-start | "
          "first-draw-cpu [LIMIT_US]\n");
  return 2;
}

// Stands in for libcrypto's OPENSSL_init_crypto (the executable's definition
// wins over the library's, as for any symbol the library imports): raises
// SIGUSR1 once from inside it, when the case asks.
extern "C" int OPENSSL_init_crypto(uint64_t opts, const void *settings) {
  using namespace grndpool::test;
  using Real = int (*)(uint64_t, const void *);
  static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "OPENSSL_init_crypto"));
  g_in_openssl_init = g_in_openssl_init + 1;
  if (g_raise_in_init != 0) {
    g_raise_in_init = 0;
    raise(SIGUSR1);
  }
  const int ok = real != nullptr ? real(opts, settings) : 0;
  g_in_openssl_init = g_in_openssl_init - 1;
  return ok;
}
