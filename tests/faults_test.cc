// SPDX-License-Identifier: Apache-2.0
// Fault injection through the library's seams, one process per fault: the
// library reads its options and probes the kernel once per process, so main()
// installs the fault named by GRNDPOOL_TEST_FAULT before the first draw (CTest
// runs every test once per fault, told apart by TEST_SUFFIX). For each fault:
// draws of 4, 8, 16, 1000 and 5000 bytes on several threads never fail, never
// return an all-zero 16-byte block and never repeat one; the fault is counted;
// and grndpool_describe() shows the fallback in force.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault_cases.h"
#include "tests/fault_seams.h"
#include "tests/test_env.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

const Fault *g_fault = nullptr;

void OnHang(int) {
  static const char msg[] = "faults_test: the draws hung for 60 s (an unbounded retry?)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(3);
}

using Block = std::array<uint8_t, 16>;

// Eight threads, alive together, each draw 4, 8, 16, 1000 and 5000 bytes in
// turn (fast path, refills, the large path). Returns every thread's output.
std::vector<std::vector<uint8_t>> DrawOnThreads() {
  constexpr int kThreads = 8, kRounds = 40;
  constexpr size_t kSizes[] = {4, 8, 16, 1000, 5000};
  constexpr size_t kRoundBytes = 4 + 8 + 16 + 1000 + 5000;
  std::vector<std::vector<uint8_t>> out(kThreads, std::vector<uint8_t>(kRounds * kRoundBytes));
  std::barrier all_drew(kThreads);
  signal(SIGALRM, OnHang);
  alarm(60);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      uint8_t *p = out[t].data();
      for (int r = 0; r < kRounds; ++r) {
        for (size_t n : kSizes) {
          grndpool_buf(p, n);
          p += n;
        }
        if (r == 0) all_drew.arrive_and_wait();  // every thread holds its slice at once
      }
    });
  for (auto &th : pool) th.join();
  alarm(0);
  return out;
}

TEST(Faults, DrawsAreFilledAndNeverRepeat) {
  const auto out = DrawOnThreads();
  std::vector<Block> blocks;
  size_t zero_blocks = 0;
  for (const auto &v : out)
    for (size_t i = 0; i + 16 <= v.size(); i += 16) {
      Block b;
      memcpy(b.data(), v.data() + i, 16);
      zero_blocks += b == Block{};
      blocks.push_back(b);
    }
  EXPECT_EQ(zero_blocks, 0u) << g_fault->name << ": a draw returned unfilled bytes";
  std::sort(blocks.begin(), blocks.end());
  EXPECT_EQ(std::adjacent_find(blocks.begin(), blocks.end()), blocks.end())
      << g_fault->name << ": a 16-byte block was served twice";
}

TEST(Faults, FaultIsCountedAndDescribed) {
  (void)DrawOnThreads();
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  grndpool_get_stats(&s);
  const std::string describe = grndpool_describe();
  g_fault->check(s, describe);
  if (HasFailure()) {
    std::string counters;
#define GRNDPOOL_TEST_PRINT(name, help) counters += " " #name "=" + std::to_string(s.name);
    GRNDPOOL_COUNTERS(GRNDPOOL_TEST_PRINT)
#undef GRNDPOOL_TEST_PRINT
    ADD_FAILURE() << g_fault->name << ":" << counters << "\n" << describe;
  }
}

// A raw-clone child (no atfork handlers run) whose forking thread and a new
// thread draw at the same time: they must not share a slice, which would serve
// bytes twice or hand out bytes the other thread just zeroed.
TEST(Faults, RawForkChildThreadsDrawDistinctWords) {
  uint64_t warm;
  grndpool_buf(&warm, sizeof warm);  // this thread holds a slice in the parent
  constexpr size_t kWords = 100000;
  std::vector<uint64_t> words(2 * kWords);
  const pid_t pid = static_cast<pid_t>(syscall(SYS_fork));
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The parent has one thread: malloc (std::thread) is safe here.
    std::thread other([&] {
      for (size_t i = 0; i < kWords; ++i) grndpool_buf(&words[kWords + i], 8);
    });
    for (size_t i = 0; i < kWords; ++i) grndpool_buf(&words[i], 8);
    other.join();
    if (std::count(words.begin(), words.end(), 0u) != 0) _exit(1);
    std::sort(words.begin(), words.end());
    _exit(std::adjacent_find(words.begin(), words.end()) != words.end() ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died of signal " << WTERMSIG(status);
  EXPECT_NE(WEXITSTATUS(status), 1) << g_fault->name << ": the child drew an all-zero word";
  EXPECT_NE(WEXITSTATUS(status), 2) << g_fault->name << ": the child served a word twice";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  const char *name = getenv("GRNDPOOL_TEST_FAULT");
  if (name == nullptr) name = "none";
  g_fault = FindFault(name);
  if (g_fault == nullptr) {
    fprintf(stderr, "faults_test: unknown GRNDPOOL_TEST_FAULT=%s\n", name);
    return 2;
  }
  InstallFaultSeams();
  g_fault->install();
  return RUN_ALL_TESTS();
}
