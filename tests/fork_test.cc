// SPDX-License-Identifier: Apache-2.0
// lib/fork (and the strategies under it): fork with busy threads, children that
// start threads, and signal-handler reentrancy, for every strategy.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "lib/fork.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

class ForkAndSignals : public ::testing::TestWithParam<Strategy> {};

std::vector<std::array<uint8_t, 16>> Blocks(const std::vector<uint8_t> &bytes) {
  std::vector<std::array<uint8_t, 16>> out;
  for (size_t i = 0; i + 16 <= bytes.size(); i += 16) {
    std::array<uint8_t, 16> b;
    memcpy(b.data(), bytes.data() + i, 16);
    out.push_back(b);
  }
  return out;
}

// A parent with warm buffers and several threads forks 200 times. Each child
// draws (through small draws, a refill and a large draw) and sends what it got;
// the parent keeps drawing from what it had buffered, and its busy threads
// record what they draw while each fork happens. No block may appear in two
// places, and every child must work.
TEST_P(ForkAndSignals, TwoHundredForksNeverShareOutput) {
  const StrategyOps &ops = StrategyFor(GetParam());
  std::atomic<bool> stop{false}, recording{false};
  constexpr size_t kBusyBlocksPerFork = 2048;
  std::vector<std::vector<uint8_t>> busy_out(3);
  std::vector<std::thread> busy;
  for (int t = 0; t < 3; ++t)
    busy.emplace_back([&, t] {
      uint8_t b[16];
      size_t in_window = 0;
      while (!stop.load()) {
        ops.draw(b, sizeof b);
        if (!recording.load(std::memory_order_relaxed)) {
          in_window = 0;
        } else if (in_window++ < kBusyBlocksPerFork) {
          busy_out[t].insert(busy_out[t].end(), b, b + sizeof b);
        }
      }
    });
  std::vector<uint8_t> all;
  uint8_t warm[16];
  ops.draw(warm, sizeof warm);
  constexpr size_t kChildBytes = 256 + 2048;
  for (int i = 0; i < 200; ++i) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    recording = true;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      uint8_t out[kChildBytes];
      for (size_t k = 0; k < 256; k += 4) ops.draw(out + k, 4);
      ops.draw(out + 256, 2048);
      // No malloc here: another parent thread may have held the allocator's
      // lock (ASan's has no fork handler). ChildThreadsDraw covers threads.
      // The slab counts the reset it did in this child.
      if (GetParam() == Strategy::kSlab && Stats().fork_resets == 0) _exit(4);
      _exit(write(fds[1], out, sizeof out) == static_cast<ssize_t>(sizeof out) ? 0 : 3);
    }
    close(fds[1]);
    std::vector<uint8_t> parent(256);
    for (size_t k = 0; k < parent.size(); k += 4) ops.draw(&parent[k], 4);
    all.insert(all.end(), parent.begin(), parent.end());
    std::vector<uint8_t> child(kChildBytes);
    size_t got = 0;
    while (got < child.size()) {
      ssize_t r = read(fds[0], child.data() + got, child.size() - got);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    close(fds[0]);
    recording = false;
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << i << " failed";
    ASSERT_EQ(got, child.size());
    all.insert(all.end(), child.begin(), child.end());
  }
  stop = true;
  for (auto &t : busy) t.join();
  size_t busy_bytes = 0;
  for (const auto &v : busy_out) {
    all.insert(all.end(), v.begin(), v.end());
    busy_bytes += v.size();
  }
  EXPECT_GT(busy_bytes, 0u) << "the busy threads drew nothing while the forks happened";
  auto blocks = Blocks(all);
  std::sort(blocks.begin(), blocks.end());
  EXPECT_EQ(std::adjacent_find(blocks.begin(), blocks.end()), blocks.end())
      << ops.name << ": parent and child (or two children) served the same bytes";
}

// A child of a quiet parent starts threads of its own, which draw and exit.
TEST_P(ForkAndSignals, ChildThreadsDraw) {
  const StrategyOps &ops = StrategyFor(GetParam());
  uint64_t warm;
  ops.draw(&warm, sizeof warm);
  std::thread([&] { ops.draw(&warm, sizeof warm); }).join();  // a parent slice is released
  const int status = RunInChild([&] {
    std::vector<uint64_t> words(4 * 256);
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
      pool.emplace_back([&, t] {
        for (int i = 0; i < 256; ++i) ops.draw(&words[t * 256 + i], sizeof(uint64_t));
      });
    for (auto &th : pool) th.join();
    std::sort(words.begin(), words.end());
    const bool unique = std::adjacent_find(words.begin(), words.end()) == words.end();
    return unique && words.front() != 0 ? 0 : 1;
  });
  EXPECT_EQ(status, 0);
}

// Draws from a signal handler that interrupts draws on the same thread: the
// handler and the interrupted code get distinct, nonzero words.
const StrategyOps *g_signal_ops = nullptr;
constexpr int kHandlerSlots = 1 << 16;
uint64_t g_handler_words[kHandlerSlots];
std::atomic<int> g_handler_count{0};

void OnSignal(int) {
  const int i = g_handler_count.fetch_add(1, std::memory_order_relaxed);
  if (i < kHandlerSlots) g_signal_ops->draw(&g_handler_words[i], sizeof(uint64_t));
}

// The thread's first draw may allocate (cipher context, slice directory), so a
// handler may draw on any thread that has drawn once: warm up before the storm.
TEST_P(ForkAndSignals, SignalHandlerReentrancy) {
  g_signal_ops = &StrategyFor(GetParam());
  uint64_t warm;
  g_signal_ops->draw(&warm, sizeof warm);
  std::vector<uint64_t> mine(1 << 22);
  g_handler_count = 0;
  // Every 50 us at this thread.
  timer_t timer;
  ASSERT_TRUE(StartSignalStorm(SIGUSR1, OnSignal, static_cast<pid_t>(gettid()), 50000, &timer));
  // Draw until the storm has interrupted us often enough, the buffer is full,
  // or 20 s passed (under emulation, signal delivery can eat most of the time).
  constexpr int kWanted = 4000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  size_t drawn = 0;
  for (size_t i = 0; i < mine.size() && g_handler_count.load() < kWanted &&
                     std::chrono::steady_clock::now() < deadline;
       ++i) {
    drawn = i + 1;
    if (i % 3 == 0)
      g_signal_ops->draw(&mine[i], sizeof(uint64_t));
    else {  // mixed sizes exercise partial slices and refills
      uint32_t halves[2];
      g_signal_ops->draw(&halves[0], 4);
      g_signal_ops->draw(&halves[1], 4);
      memcpy(&mine[i], halves, 8);
    }
  }
  timer_delete(timer);
  signal(SIGUSR1, SIG_DFL);
  const int handled = std::min(g_handler_count.load(), kHandlerSlots);
  EXPECT_GT(handled, 200) << "the signal storm did not interrupt draws";
  mine.resize(drawn);
  std::vector<uint64_t> all(mine);
  all.insert(all.end(), g_handler_words, g_handler_words + handled);
  EXPECT_EQ(std::count(all.begin(), all.end(), 0u), 0) << "a draw returned zeroed bytes";
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a word was served twice";
}

// A raw fork (no atfork handler) while other threads draw through the same
// strategy: the child's first draw, a direct call of the strategy, must reset
// the child before it takes the strategy's lock, which another thread may
// have held at the fork (it waited there for ever when direct calls skipped
// the reset).
TEST_P(ForkAndSignals, RawForkChildsFirstDrawWhileOtherThreadsDrew) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot follow a raw fork: its child waits on the runtime's own "
                  "locks";
#endif
  const StrategyOps &ops = StrategyFor(GetParam());
  uint8_t warm[16];
  ops.draw(warm, sizeof warm);
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t)
    busy.emplace_back([&] {
      uint8_t b[16];
      while (!stop.load(std::memory_order_relaxed)) ops.draw(b, sizeof b);
    });
  int hung = 0, zero = 0, forks = 0;
  for (; forks < 100 && hung == 0; ++forks) {
    const pid_t pid = static_cast<pid_t>(syscall(SYS_fork));
    if (pid == 0) {
      alarm(5);
      uint64_t w[2] = {0, 0};
      ops.draw(w, sizeof w);
      _exit(w[0] != 0 && w[1] != 0 ? 0 : 1);
    }
    ASSERT_GT(pid, 0);
    // liburcu's grace period blocks every signal: the alarm alone cannot end
    // a child stuck there.
    const int status = WaitAtMost(pid, 10);
    if (status == -1 || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM))
      ++hung;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ++zero;
  }
  stop = true;
  for (auto &t : busy) t.join();
  EXPECT_EQ(hung, 0) << "a raw-fork child's first draw hung (a lock copied held), at fork "
                     << forks;
  EXPECT_EQ(zero, 0) << "a raw-fork child drew zero words or died";
}

INSTANTIATE_TEST_SUITE_P(Strategies, ForkAndSignals, ::testing::ValuesIn(kAllStrategies),
                         [](const auto &info) { return StrategyParamName(info.param); });

// ForkSafeMutex: a signal handler that calls fork() can land anywhere in the
// lock() or unlock() of the thread it interrupts, and the prepare hook then
// runs on that thread. The hooks must tell "this thread holds it" exactly: a
// lock taken but not yet marked as the thread's made prepare wait for the
// thread itself, for ever (the TSan CI hang of edge.fork-in-handler).
fork::ForkSafeMutex g_storm_mutex;
std::atomic<int> g_storm_forks{0};
std::atomic<int> g_storm_bad_children{0};
// Lock/unlock pairs done, and their count at the last fork: a fork can take
// longer than the timer's period (ASan's shadow), and the signal already
// pending would otherwise fork again before the loop moved on.
volatile uint64_t g_storm_pairs = 0;
uint64_t g_storm_pairs_at_fork = ~uint64_t{0};

void StormPrepare() {
  g_storm_mutex.PrepareFork();
}
void StormParent() {
  g_storm_mutex.ParentAfterFork();
}
void StormChild() {
  g_storm_mutex.ChildAfterFork(true);
}

void ForkInStorm(int) {
  if (g_storm_pairs == g_storm_pairs_at_fork) return;
  g_storm_pairs_at_fork = g_storm_pairs;
  const int saved = errno;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child's copy must work too: free, unless the interrupted code
    // holds it (it releases it when the handler returns).
    alarm(10);
    if (g_storm_mutex.try_lock()) g_storm_mutex.unlock();
    _exit(0);
  }
  if (pid > 0) {
    if (WaitStatus(pid) != 0) g_storm_bad_children.fetch_add(1);
    g_storm_forks.fetch_add(1);
  }
  errno = saved;
}

TEST(ForkSafeMutex, ForkFromAHandlerAnywhereInLockOrUnlock) {
  constexpr int kForks = 1500;
  const int status = RunInChild(
      [] {
        pthread_atfork(StormPrepare, StormParent, StormChild);
        timer_t timer;
        if (!StartSignalStorm(SIGUSR2, ForkInStorm, static_cast<pid_t>(gettid()), 300000, &timer))
          return 3;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
        while (g_storm_forks.load() < kForks && std::chrono::steady_clock::now() < deadline) {
          for (int i = 0; i < 64; ++i) {
            if (i % 2 == 0) {
              g_storm_mutex.lock();
            } else if (!g_storm_mutex.try_lock()) {
              return 4;  // uncontended: try_lock must succeed
            }
            g_storm_mutex.unlock();
            g_storm_pairs = g_storm_pairs + 1;
          }
        }
        timer_delete(timer);
        if (g_storm_bad_children.load() != 0) return 5;
        return g_storm_forks.load() >= kForks ? 0 : 6;
      },
      60);
  EXPECT_EQ(status, 0) << "-1: the storm's process hung (prepare waited for its own thread); "
                          "5: a child could not use its copy; 6: too few forks in 40 s";
}

}  // namespace
}  // namespace grndpool::test
