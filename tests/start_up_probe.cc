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
//   start_up_probe first-draw-cpu [LIMIT_RATIO]
//                                             the CPU time (CLOCK_PROCESS_CPUTIME_ID)
//                                             of the first grndpool_u32() in 20 fresh
//                                             processes, each against the CPU time of
//                                             the same kind of kernel work done bare
//                                             in that process right after (maps,
//                                             advice, a lock, a memfd page, a
//                                             /proc and a /sys read): median ratio
//                                             at most LIMIT_RATIO (default 2.2); the
//                                             median in microseconds is printed
//                                             beside it (issue 19: 200 us here)
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
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

// What start-up asks of the kernel, done bare: the maps with their advice
// and a lock, the stats page's memfd, the thread count's /proc read and the
// CPU count's /sys read. Its CPU time moves with this VM's speed as start-up's
// does (both are mostly kernel entries and page faults), so the ratio of the
// two holds where the absolute time drifts: one build (s12) measured 130-275 us
// medians on this VM from one hour to the next. The ratio: 1.44-1.48 quiet,
// 1.77-1.86 beside 2 and 4 busy loops; 2.65-2.70 with libcrypto started by
// the first draw (GRNDPOOL_CHACHA20_AFTER=0, +120 us), which the limit of
// 2.2 fails.
void KernelWorkReference() {
  char buf[512];
  const auto read_file = [&buf](const char *path, int reads) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    for (int i = 0; i < reads; ++i) (void)!read(fd, buf, sizeof buf);
    close(fd);
  };
  constexpr size_t kPage = 4096;
  for (int i = 0; i < 6; ++i) {
    void *p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) continue;
    (void)madvise(p, kPage, MADV_WIPEONFORK);
    (void)madvise(p, kPage, MADV_DONTDUMP);
    if (i == 0) (void)mlock(p, kPage);
    *static_cast<volatile char *>(p) = 1;
    munmap(p, kPage);
  }
  read_file("/proc/self/status", 2);
  const int fd = memfd_create("first-draw-reference", MFD_CLOEXEC);
  if (fd >= 0) {
    if (ftruncate(fd, kPage) == 0) {
      void *p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        *static_cast<volatile char *>(p) = 1;
        munmap(p, kPage);
      }
    }
    close(fd);
  }
  read_file("/sys/devices/system/cpu/possible", 1);
}

int FirstDrawCpuOnce() {
  const double before = CpuMicros();
  const uint32_t word = grndpool_u32();
  const double drawn = CpuMicros();
  KernelWorkReference();
  const double after = CpuMicros();
  explicit_bzero(const_cast<uint32_t *>(&word), sizeof word);
  printf("%.1f %.1f\n", drawn - before, after - drawn);
  return 0;
}

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct FirstDrawRun {
  double draw_us = -1;  // median first-draw CPU time; negative when a run failed
  double reference_us = 0;
  double ratio = 0;  // median of the per-process ratios
};

FirstDrawRun FirstDrawCpuMedians(const char *self) {
  constexpr int kRuns = 20;
  std::vector<double> draws, references, ratios;
  for (int i = 0; i < kRuns; ++i) {
    FILE *p = popen((std::string("'") + self + "' first-draw-cpu-once").c_str(), "r");
    double draw = 0, reference = 0;
    const bool read = p != nullptr && fscanf(p, "%lf %lf", &draw, &reference) == 2;
    if (p == nullptr || pclose(p) != 0 || !read || reference <= 0) return {};
    draws.push_back(draw);
    references.push_back(reference);
    ratios.push_back(draw / reference);
  }
  return {MedianOf(draws), MedianOf(references), MedianOf(ratios)};
}

// The best of three: a real regression fails all three, a busy minute does not.
int FirstDrawCpu(double limit_ratio) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return Fail("readlink /proc/self/exe");
  self[len] = '\0';
  double best = -1;
  for (int attempt = 0; attempt < 3 && (best < 0 || best > limit_ratio); ++attempt) {
    const FirstDrawRun run = FirstDrawCpuMedians(self);
    if (run.draw_us < 0) return Fail("a first-draw-cpu-once run failed");
    printf(
        "start_up_probe: first grndpool_u32(): median %.1f us of CPU over 20 fresh processes "
        "(issue 19's figure: 200 us); the same kernel work bare: %.1f us; median ratio %.2f, "
        "limit %.2f\n",
        run.draw_us, run.reference_us, run.ratio, limit_ratio);
    if (best < 0 || run.ratio < best) best = run.ratio;
  }
  return best <= limit_ratio ? 0
                             : Fail("the first draw costs more CPU than the limit allows, 3 times");
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
  if (cmd == "first-draw-cpu") return FirstDrawCpu(argc > 2 ? strtod(argv[2], nullptr) : 2.2);
  const bool raw = argc > 2 && strcmp(argv[2], "raw") == 0;
  if (cmd == "fork-during-first-draw") return ForkDuringFirstDraw(raw, false);
  if (cmd == "fork-during-keystream-start") return ForkDuringFirstDraw(raw, true);
  fprintf(stderr,
          "usage: start_up_probe exit-during-first-draw | fork-during-first-draw [raw] | "
          "fork-during-keystream-start [raw] | handler-during-keystream-start | "
          "first-draw-cpu [LIMIT_RATIO]\n");
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
