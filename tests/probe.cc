// SPDX-License-Identifier: Apache-2.0
// A tiny program the tests run as a separate process, so that it can be
// configured (environment, RLIMIT_MEMLOCK) before the library's first draw.
//
//   probe describe              print grndpool_describe() after one draw
//   probe quiet                 draw through every path; exit 0 when the library
//                               started no thread and installed no signal handler
//   probe memlock BYTES THREADS [--drop-ipc-lock]
//                               set RLIMIT_MEMLOCK, draw from THREADS threads,
//                               print the stats; exit 0 when every draw worked
//                               and, with --drop-ipc-lock (root ignores the
//                               limit otherwise), something failed to lock
//   probe hold [fork]           draw, print "pid=P refills=R ..." (its own
//                               counters), then wait until stdin closes; with
//                               fork, a child forked after that draws once and
//                               prints its own line, and waits too
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <barrier>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"

namespace {

int Describe() {
  (void)grndpool_u32();
  printf("%s\n", grndpool_describe());
  return 0;
}

// A 4 KiB draw that comes back all zero means the draw failed silently.
bool DrawLooksRandom() {
  unsigned char buf[4096] = {};
  grndpool_buf(buf, sizeof buf);
  int nonzero = 0;
  for (unsigned char b : buf) nonzero += b != 0;
  return nonzero > 3900 && grndpool_u64() != 0;
}

int ThreadCount() {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int threads = -1;
  while (f != nullptr && fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "Threads: %d", &threads) == 1) break;
  if (f != nullptr) fclose(f);
  return threads;
}

// Which signals have a handler other than the default.
std::vector<int> HandledSignals() {
  std::vector<int> handled;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_DFL) handled.push_back(sig);
  }
  return handled;
}

// The library must start no thread or process and install no signal handler:
// compare before and after draws of every size, stats, describe and a fork.
int Quiet() {
  const int threads_before = ThreadCount();
  const std::vector<int> signals_before = HandledSignals();
  unsigned char big[100000];
  for (int i = 0; i < 100000; ++i) (void)grndpool_u32();
  grndpool_buf(big, sizeof big);
  (void)grndpool_uniform(7);
  struct grndpool_stats s = {};
  grndpool_get_stats(&s);
  (void)grndpool_describe();
  std::thread([] { (void)grndpool_u64(); }).join();
  const int threads_after = ThreadCount();
  const bool same_signals = HandledSignals() == signals_before;
  printf("threads before=%d after=%d, signal handlers unchanged=%d\n", threads_before,
         threads_after, same_signals);
#if defined(__SANITIZE_THREAD__)
  // TSan's runtime starts its own background thread on first thread creation.
  printf("(thread count not checked under ThreadSanitizer)\n");
  return same_signals ? 0 : 1;
#else
  return threads_before == threads_after && same_signals ? 0 : 1;
#endif
}

// Removes CAP_IPC_LOCK from this process, so RLIMIT_MEMLOCK applies to root
// too (the QEMU guest has no setpriv).
bool DropIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const int word = CAP_IPC_LOCK / 32;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[word].effective &= ~bit;
  data[word].permitted &= ~bit;
  data[word].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data) == 0;
}

int Memlock(rlim_t limit, int threads, bool drop_ipc_lock) {
  if (drop_ipc_lock && !DropIpcLock()) {
    perror("capset");
    return 2;
  }
  struct rlimit r = {limit, limit};
  if (setrlimit(RLIMIT_MEMLOCK, &r) != 0) {
    perror("setrlimit");
    return 2;
  }
  bool ok = DrawLooksRandom();
  std::vector<std::thread> pool;
  std::vector<char> results(threads, 0);
  // All threads hold their slices at once, so the slab must grow past the limit.
  std::barrier all_drawn(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      results[t] = DrawLooksRandom();
      all_drawn.arrive_and_wait();
    });
  for (auto &th : pool) th.join();
  for (char c : results) ok = ok && c;
  struct grndpool_stats s = {};
  grndpool_get_stats(&s);
  printf("ok=%d mlock_failures=%llu locked_bytes=%llu slab_bytes=%llu\n%s\n", ok,
         (unsigned long long)s.mlock_failures, (unsigned long long)s.locked_bytes,
         (unsigned long long)s.slab_bytes, grndpool_describe());
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // (The sanitizers make mlock() a no-op that succeeds.)
  if (drop_ipc_lock && s.mlock_failures == 0) {
    printf("expected mlock failures under RLIMIT_MEMLOCK=%llu\n", (unsigned long long)limit);
    return 1;
  }
#endif
  return ok ? 0 : 1;
}

void PrintOwnCounters() {
  struct grndpool_stats s = {};
  grndpool_get_stats(&s);
  printf("pid=%d refills=%llu slab_bytes=%llu threads_seen=%llu fork_resets=%llu\n",
         static_cast<int>(getpid()), (unsigned long long)s.refills,
         (unsigned long long)s.slab_bytes, (unsigned long long)s.threads_seen,
         (unsigned long long)s.fork_resets);
  fflush(stdout);
}

void WaitForEndOfInput() {
  char c;
  while (read(0, &c, 1) > 0) {
  }
}

int Hold(bool with_fork) {
  unsigned char buf[100000];
  grndpool_buf(buf, sizeof buf);
  for (int i = 0; i < 20000; ++i) (void)grndpool_u32();
  PrintOwnCounters();
  pid_t child = with_fork ? fork() : -1;
  if (child == 0) {
    (void)grndpool_u32();
    PrintOwnCounters();
    WaitForEndOfInput();
    _exit(0);
  }
  WaitForEndOfInput();
  int status = 0;
  if (child > 0 && (waitpid(child, &status, 0) != child || status != 0)) return 1;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "describe") == 0) return Describe();
  if (argc >= 2 && strcmp(argv[1], "quiet") == 0) return Quiet();
  if (argc >= 4 && strcmp(argv[1], "memlock") == 0)
    return Memlock(strtoull(argv[2], nullptr, 10), atoi(argv[3]),
                   argc >= 5 && strcmp(argv[4], "--drop-ipc-lock") == 0);
  if (argc >= 2 && strcmp(argv[1], "hold") == 0)
    return Hold(argc >= 3 && strcmp(argv[2], "fork") == 0);
  fprintf(stderr,
          "usage: probe describe | probe quiet | probe memlock BYTES THREADS [--drop-ipc-lock] | "
          "probe hold [fork]\n");
  return 2;
}
