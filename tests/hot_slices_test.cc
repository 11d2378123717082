// SPDX-License-Identifier: Apache-2.0
// Hot slices (lib/hot_slices.h): a thread that refills often moves to a larger
// slice; one that draws little stays small; hot slices stay within their share
// of the slab budget, are freed at thread exit and reused, are never handed
// out unlocked, and the move serves no byte twice. Cases that need their own
// configuration run this program again as a child (`--child MODE`), since
// options are read once per process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lib/slab_segment.h"
#include "tests/test_env.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

constexpr int kBusyDraws = 1 << 16;  // 256 KiB of u32: 256 refills of a 1 KiB slice

void DrawBusily() {
  for (int i = 0; i < kBusyDraws; ++i) (void)grndpool_u32();
}

std::string Self() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// Runs this program as a child in MODE with `env`; the child's output and exit
// status.
int RunChild(const std::string &env, const char *mode, std::string *out) {
  return RunCommand(env + " " + Self() + " --child " + mode, out);
}

TEST(HotSlices, BusyThreadMovesToAHotSliceAndGivesItBackAtExit) {
  const uint64_t hot_before = Stats().hot_slices_in_use;
  const uint64_t in_use_before = Stats().slices_in_use;
  uint64_t hot_while = 0, in_use_while = 0;
  std::thread([&] {
    DrawBusily();
    hot_while = Stats().hot_slices_in_use;
    in_use_while = Stats().slices_in_use;
  }).join();
  EXPECT_EQ(hot_while, hot_before + 1);
  // The small slice went back when the thread moved: one slice held, not two.
  EXPECT_EQ(in_use_while, in_use_before + 1);
  EXPECT_EQ(Stats().hot_slices_in_use, hot_before);
  EXPECT_EQ(Stats().slices_in_use, in_use_before);
}

TEST(HotSlices, ThreadThatDrawsLittleStaysSmall) {
  const uint64_t hot_before = Stats().hot_slices_in_use;
  uint64_t hot_while = 0, refills = 0;
  std::thread([&] {
    const uint64_t refills_before = Stats().refills;
    // A slice's worth every 12 ms: 8 refills take ~96 ms, far slower than the
    // 8 in 10 ms that make a thread hot.
    for (int round = 0; round < 32; ++round) {
      for (int i = 0; i < 256; ++i) (void)grndpool_u32();
      std::this_thread::sleep_for(std::chrono::milliseconds(12));
    }
    hot_while = Stats().hot_slices_in_use;
    refills = Stats().refills - refills_before;
  }).join();
  EXPECT_GE(refills, 24u);  // it did refill, often enough to be looked at
  EXPECT_EQ(hot_while, hot_before);
}

// Two threads move to hot slices while drawing; every 64-bit word the two
// served, before, during and after the move, is distinct.
TEST(HotSlices, NoWordServedTwiceAcrossTheMove) {
  constexpr int kWords = 1 << 18;
  std::vector<uint64_t> a(kWords), b(kWords);
  std::thread ta([&] {
    for (auto &w : a) w = grndpool_u64();
  });
  std::thread tb([&] {
    for (auto &w : b) w = grndpool_u64();
  });
  ta.join();
  tb.join();
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  EXPECT_EQ(std::count(a.begin(), a.end(), 0u), 0);
}

// A child of a parent whose thread is hot: its slices read free and wiped, it
// serves none of the parent's next words, and it can go hot itself (its hot
// slices are locked again there).
TEST(HotSlices, ChildOfAHotParent) {
  DrawBusily();
  ASSERT_GE(Stats().hot_slices_in_use, 1u);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  constexpr int kWords = 4096;
  const int status = RunInChild([&] {
    close(pipefd[0]);
    std::vector<uint64_t> words(kWords);
    for (auto &w : words) w = grndpool_u64();
    const struct grndpool_stats s = Stats();
    bool ok = s.hot_slices_in_use <= 1 && s.locked_bytes > 0;
    for (int i = 0; i < kBusyDraws; ++i) (void)grndpool_u32();
    ok = ok && Stats().hot_slices_in_use == 1;
    if (write(pipefd[1], words.data(), words.size() * 8) != kWords * 8) return 3;
    return ok ? 0 : 2;
  });
  close(pipefd[1]);
  std::vector<uint64_t> child(kWords);
  size_t got = 0;
  while (got < child.size() * 8) {
    const ssize_t n =
        read(pipefd[0], reinterpret_cast<char *>(child.data()) + got, child.size() * 8 - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(pipefd[0]);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(got, child.size() * 8);
  std::vector<uint64_t> parent(kWords);
  for (auto &w : parent) w = grndpool_u64();
  std::sort(child.begin(), child.end());
  for (uint64_t w : parent) EXPECT_FALSE(std::binary_search(child.begin(), child.end(), w));
}

// 12 busy threads at once with a 256 KiB slab: a quarter of it, 4 hot slices
// of 16 KiB, is all that goes hot; the slab stays within budget; at exit the
// hot slices are freed and the next 12 threads reuse them without mapping more.
TEST(HotSlices, StayWithinTheirShareOfTheBudgetAndAreReused) {
  std::string out;
  EXPECT_EQ(RunChild("GRNDPOOL_SLAB_BYTES=256K", "share", &out), 0) << out;
}

// Hot slices are never handed out unlocked: with mlock failing, busy threads
// stay on their small slices (which may be unlocked or droppable) and every
// draw still works.
TEST(HotSlices, NeverUnlocked) {
  std::string out;
  EXPECT_EQ(RunChild("", "mlock-fails", &out), 0) << out;
}

TEST(HotSlices, OffWhenAskedFor) {
  std::string out;
  EXPECT_EQ(RunChild("GRNDPOOL_HOT_SLICE_BYTES=0", "off", &out), 0) << out;
  EXPECT_EQ(out.find("ignoring"), std::string::npos) << out;
}

// A hot slice already mapped and locked is still handed out after a later one
// failed to lock: one failure does not strand the others (and a thread that
// gets one serves from it at full capacity).
TEST(HotSlices, ALaterLockFailureStrandsNoneMappedBefore) {
  std::string out;
  EXPECT_EQ(RunChild("", "lock-fails-later", &out), 0) << out;
}

// A fork landing inside the mapping of a hot slice (as one from a signal
// handler would): the child locks the slice again before serving from it.
TEST(HotSlices, ForkWhileMappingLocksTheChildsCopy) {
  std::string out;
  EXPECT_EQ(RunChild("", "fork-in-map", &out), 0) << out;
}

// _Fork() (no atfork handlers) from a thread that never drew: the child's
// first thread is the forking one, so the slices held back for it are freed
// as soon as it draws, and a busy thread there gets a hot slice again.
TEST(HotSlices, RawForkFromAThreadThatNeverDrew) {
  std::string out;
  EXPECT_EQ(RunChild("GRNDPOOL_SLAB_BYTES=256K", "raw-fork", &out), 0) << out;
}

// --- child modes -------------------------------------------------------------

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
    if (s.hot_slices_in_use != 4 || s.slices_in_use != kThreads) return 1;
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
  // hot), hold the 4 hot slices of a 256 KiB slab at once, so all 4 are
  // mapped; then they exit.
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
  const pid_t pid = _Fork();  // this thread never drew
  if (pid == 0) {
    (void)grndpool_u32();  // the forking thread is seen: nothing is held back
    uint64_t hot = 0;
    std::thread([&] {
      DrawBusily();
      hot = Stats().hot_slices_in_use;
    }).join();
    printf("child: hot_slices_in_use=%llu while busy\n", (unsigned long long)hot);
    fflush(stdout);
    _exit(hot == 1 ? 0 : 1);
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
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    const std::string mode = argv[2];
    if (mode == "share") return Share();
    if (mode == "mlock-fails") return MlockFails();
    if (mode == "off") return Off();
    if (mode == "lock-fails-later") return LockFailsLater();
    if (mode == "fork-in-map") return ForkInMap();
    if (mode == "raw-fork") return RawFork();
    fprintf(stderr,
            "hot_slices_test: unknown child mode '%s' "
            "(share|mlock-fails|off|lock-fails-later|fork-in-map|raw-fork)\n",
            argv[2]);
    return 2;
  }
  ApplyTestEnvironment();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
