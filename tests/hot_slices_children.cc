// SPDX-License-Identifier: Apache-2.0
#include "tests/hot_slices_children.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "lib/slab_segment.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

int Share() {
  constexpr int kThreads = 12;
  uint64_t first_slab = 0;
  for (int round = 0; round < 2; ++round) {
    // One busy phase after another (each thread alone on a core goes hot if
    // a hot slice is left), all threads alive together at the end.
    std::barrier step(2);
    std::barrier may_exit(kThreads + 1);
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) {
      pool.emplace_back([&] {
        DrawBusily();
        step.arrive_and_wait();
        may_exit.arrive_and_wait();
      });
      step.arrive_and_wait();
    }
    const struct grndpool_stats s = Stats();
    may_exit.arrive_and_wait();
    for (auto &th : pool) th.join();
    printf("round %d: hot_slices_in_use=%llu slices_in_use=%llu slab_bytes=%llu locked=%llu\n",
           round, (unsigned long long)s.hot_slices_in_use, (unsigned long long)s.slices_in_use,
           (unsigned long long)s.slab_bytes, (unsigned long long)s.locked_bytes);
    if (s.hot_slices_in_use != 8 || s.slices_in_use != kThreads) return 1;
    if (s.slab_bytes > 256 * 1024 || s.locked_bytes > 256 * 1024) return 1;
    if (round == 0) first_slab = s.slab_bytes;
    if (round == 1 && s.slab_bytes != first_slab) return 1;  // reused, nothing new mapped
    if (Stats().hot_slices_in_use != 0) return 1;
  }
  return 0;
}

std::atomic<int> g_lock_calls{0};
int FailLock(void *, size_t) {
  g_lock_calls.fetch_add(1);
  return -1;
}

int MlockFails() {
  static MemoryOps ops = DefaultMemoryOps();
  ops.lock = FailLock;
  SetMemoryOpsForTesting(&ops);
  std::thread([] {
    for (int i = 0; i < 4 * kBusyDraws; ++i)
      if (grndpool_u32() == 0 && grndpool_u32() == 0) {
        printf("two zero words in a row\n");
        _exit(1);
      }
  }).join();
  const struct grndpool_stats s = Stats();
  printf("lock calls=%d hot_slices_in_use=%llu mlock_failures=%llu\n%s\n", g_lock_calls.load(),
         (unsigned long long)s.hot_slices_in_use, (unsigned long long)s.mlock_failures,
         grndpool_describe());
  // The thread exited, so no hot slice is in use whatever happened: what shows
  // that none was handed out is that none was ever mapped for more than a try.
  return g_lock_calls.load() > 0 && s.mlock_failures > 0 &&
                 strstr(grndpool_describe(), "hot-slice=16384B(no-new:mlock-failed)") != nullptr
             ? 0
             : 1;
}

std::atomic<bool> g_fail_lock{false};
int LockUnlessFailing(void *addr, size_t bytes) {
  return g_fail_lock.load() ? -1 : DefaultMemoryOps().lock(addr, bytes);
}

int LockFailsLater() {
  static MemoryOps ops = DefaultMemoryOps();
  ops.lock = LockUnlessFailing;
  SetMemoryOpsForTesting(&ops);
  std::thread(DrawBusily).join();  // maps and locks one hot slice, frees it at exit
  if (Stats().slab_bytes == 0) return 1;
  g_fail_lock = true;
  std::barrier first_hot(2);
  std::thread holder([&] {
    DrawBusily();  // takes the one mapped hot slice
    first_hot.arrive_and_wait();
    first_hot.arrive_and_wait();
  });
  first_hot.arrive_and_wait();
  std::thread(DrawBusily).join();  // wants a second one: mapping it fails to lock
  const uint64_t refills = Stats().refills;
  std::thread([] {
    for (int i = 0; i < 4 * kBusyDraws; ++i) (void)grndpool_u32();
  }).join();
  const struct grndpool_stats s = Stats();
  first_hot.arrive_and_wait();
  holder.join();
  printf("hot_slices_in_use=%llu mlock_failures=%llu refills=%llu\n%s\n",
         (unsigned long long)s.hot_slices_in_use, (unsigned long long)s.mlock_failures,
         (unsigned long long)(s.refills - refills), grndpool_describe());
  // The holder kept the only hot slice; the failure stopped new mappings.
  if (s.hot_slices_in_use != 1 || s.mlock_failures == 0) return 1;
  if (strstr(grndpool_describe(), "(no-new:mlock-failed)") == nullptr) return 1;
  // The holder exits: the next busy thread gets its slice and refills it
  // every 4080 u32, not every 240.
  const uint64_t before = Stats().refills;
  uint64_t hot_while = 0;
  std::thread([&] {
    for (int i = 0; i < 4 * kBusyDraws; ++i) (void)grndpool_u32();
    hot_while = Stats().hot_slices_in_use;
  }).join();
  const uint64_t refills_hot = Stats().refills - before;
  printf("after the holder exited: hot_slices_in_use=%llu refills=%llu\n",
         (unsigned long long)hot_while, (unsigned long long)refills_hot);
  return hot_while == 1 && refills_hot < 4 * kBusyDraws / 4 / 200 ? 0 : 1;
}

// Reads Locked: (kB) of the mapping that holds addr, from /proc/self/smaps.
long LockedKb(const void *addr) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == nullptr) return -1;
  char line[512];
  bool in = false;
  long kb = -1;
  while (fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    char c = 0;
    if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3)
      in = reinterpret_cast<uintptr_t>(addr) >= lo && reinterpret_cast<uintptr_t>(addr) < hi;
    else if (in && sscanf(line, "Locked: %ld kB", &kb) == 1)
      break;
  }
  fclose(f);
  return kb;
}

void *g_hot_base = nullptr;
pid_t g_map_child = -1;
int LockThenFork(void *addr, size_t bytes) {
  const int rc = DefaultMemoryOps().lock(addr, bytes);
  if (bytes == 16384 && g_hot_base == nullptr) {
    g_hot_base = addr;
    g_map_child = fork();
  }
  return rc;
}

int ForkInMap() {
  static MemoryOps ops = DefaultMemoryOps();
  ops.lock = LockThenFork;
  SetMemoryOpsForTesting(&ops);
  DrawBusily();  // goes hot: forks inside the hot slice's mapping
  DrawBusily();
  const struct grndpool_stats s = Stats();
  const long locked_kb = LockedKb(g_hot_base);
  const bool child = g_map_child == 0;
  printf("%s: hot slice Locked=%ld kB hot_slices_in_use=%llu locked_bytes=%llu slab_bytes=%llu\n",
         child ? "child" : "parent", locked_kb, (unsigned long long)s.hot_slices_in_use,
         (unsigned long long)s.locked_bytes, (unsigned long long)s.slab_bytes);
  fflush(stdout);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const bool locked_ok = true;  // the sanitizers turn mlock() into a no-op
#else
  const bool locked_ok = locked_kb == 16;
#endif
  const bool ok = g_hot_base != nullptr && s.hot_slices_in_use == 1 && locked_ok &&
                  s.locked_bytes <= s.slab_bytes;
  if (child) _exit(ok ? 0 : 1);
  int status = 0;
  if (g_map_child < 0 || waitpid(g_map_child, &status, 0) != g_map_child) return 1;
  return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

extern "C" pid_t _Fork(void);

int RawFork() {
  // Four busy threads, one after another (each alone on a core, so each goes
  // hot), hold the 4 hot slices of a 128 KiB slab at once, so all 4 are
  // mapped; then they exit. The child can then go hot only on one of those.
  std::barrier step(2), all_done(5);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      DrawBusily();
      step.arrive_and_wait();
      all_done.arrive_and_wait();
    });
    step.arrive_and_wait();
  }
  const uint64_t hot_before = Stats().hot_slices_in_use;
  all_done.arrive_and_wait();
  for (auto &th : pool) th.join();
  if (hot_before != 4 || Stats().hot_slices_in_use != 0) {
    printf("parent: %llu hot slices held at once, expected 4\n", (unsigned long long)hot_before);
    return 1;
  }
  fflush(stdout);
  const uint64_t slab_before = Stats().slab_bytes;
  const pid_t pid = _Fork();  // this thread never drew
  if (pid == 0) {
    (void)grndpool_u32();  // the forking thread is seen: nothing is held back
    uint64_t hot = 0, slab = 0;
    std::thread([&] {
      DrawBusily();
      hot = Stats().hot_slices_in_use;
      slab = Stats().slab_bytes;
    }).join();
    printf("child: hot_slices_in_use=%llu while busy, slab_bytes %llu (parent %llu)\n",
           (unsigned long long)hot, (unsigned long long)slab, (unsigned long long)slab_before);
    fflush(stdout);
    _exit(hot == 1 && slab == slab_before ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int Off() {
  std::thread(DrawBusily).join();
  const struct grndpool_stats s = Stats();
  printf("hot_slices_in_use=%llu %s\n", (unsigned long long)s.hot_slices_in_use,
         grndpool_describe());
  return strstr(grndpool_describe(), "hot-slice=off") != nullptr ? 0 : 1;
}

}  // namespace

int RunHotSlicesChild(const std::string &mode) {
  if (mode == "share") return Share();
  if (mode == "mlock-fails") return MlockFails();
  if (mode == "off") return Off();
  if (mode == "lock-fails-later") return LockFailsLater();
  if (mode == "fork-in-map") return ForkInMap();
  if (mode == "raw-fork") return RawFork();
  fprintf(stderr,
          "hot_slices_test: unknown child mode '%s' "
          "(share|mlock-fails|off|lock-fails-later|fork-in-map|raw-fork)\n",
          mode.c_str());
  return 2;
}

}  // namespace grndpool::test
