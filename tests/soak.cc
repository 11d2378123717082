// SPDX-License-Identifier: Apache-2.0
// The soak test: for --seconds N, everything at once. Long-lived threads draw
// through every strategy in turn; other threads start, draw and exit; children
// are forked with glibc fork() and with raw syscall(SYS_fork) (no atfork
// handlers), draw a little, from several threads too, and send what they got
// to the parent; a timer signal storm makes handlers draw 8 bytes on whatever
// thread they land (also threads that are exiting); the kernel CRNG is forced
// to reseed every ~100 ms (ioctl RNDRESEEDCRNG, root). Checked all the while:
// no 16-byte block (or 8-byte word of an 8-byte draw) is seen twice across
// parent and children (a bounded window of recent output, see soak_store.h),
// no all-zero 8-byte word, locked bytes within the slab budget. One summary
// line at the end; exit 0 on pass.
//
//   soak [--seconds N]
//
// Forced reseeds need root: without them it exits 77 (a skip, with its reason)
// rather than pass without proving what it is for.
#include <fcntl.h>
#include <linux/random.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/runtime.h"
#include "lib/strategies/registry.h"
#include "tests/soak_draw.h"
#include "tests/soak_fork.h"
#include "tests/soak_store.h"

namespace {

using grndpool::test::DrawRound;
using grndpool::test::g_soak;
using grndpool::test::Recorder;

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_threads{0}, g_reseeds{0};
grndpool::test::ForkCounts g_fork_counts;

void LongLived(int id) {
  Recorder rec;
  for (uint64_t i = static_cast<uint64_t>(id) * 7; !g_stop.load(std::memory_order_relaxed); ++i)
    DrawRound(rec, i);
}

// Threads that start, draw a little and exit, four at a time.
void Churn() {
  uint64_t round = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::thread batch[4];
    for (auto &t : batch)
      t = std::thread([r = round++] {
        Recorder rec;
        for (uint64_t i = 0; i < 40; ++i) DrawRound(rec, r * 131 + i);
      });
    for (auto &t : batch) t.join();
    g_threads.fetch_add(4, std::memory_order_relaxed);
  }
}

// The storm's handler: 8 bytes into a preallocated array, on whatever thread.
void OnSignal(int) {
  const int saved_errno = errno;
  uint64_t word;
  grndpool_buf(&word, sizeof word);
  g_soak.HandlerWord(word);
  errno = saved_errno;
}

bool StartStorm(timer_t *timer) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGUSR1, &sa, nullptr) != 0) return false;
  sigevent sev{};
  sev.sigev_notify = SIGEV_SIGNAL;  // to the process: any thread may take it
  sev.sigev_signo = SIGUSR1;
  if (timer_create(CLOCK_MONOTONIC, &sev, timer) != 0) return false;
  const itimerspec every{{0, 200000}, {0, 200000}};
  return timer_settime(*timer, 0, &every, nullptr) == 0;
}

}  // namespace

int main(int argc, char **argv) {
  long seconds = 60;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = strtol(argv[++i], nullptr, 10);
    } else {
      fprintf(stderr, "usage: soak [--seconds N]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    printf("soak: skipped: RNDRESEEDCRNG needs root (forced reseeds are half of this test)\n");
    return 77;
  }
  uint64_t warm;
  grndpool_buf(&warm, sizeof warm);  // start-up; the handler may draw on this thread now
  // The per-cpu strategy's pool has a budget of its own, beside the slab's
  // (a process normally draws through one of them; this one uses all).
  const uint64_t budget = grndpool::CurrentOptions().slab_bytes + grndpool::PerCpuPoolBytes();
  const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

  timer_t timer;
  if (!StartStorm(&timer)) {
    perror("soak: signal storm");
    return 2;
  }
  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) threads.push_back(std::thread([id] { LongLived(id); }));
  threads.push_back(std::thread(Churn));
  threads.push_back(std::thread([] { grndpool::test::Forker(g_stop, &g_fork_counts); }));

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  uint64_t max_locked = 0;
  int reseed_error = 0;
  auto next = start;
  while (std::chrono::steady_clock::now() < end && !g_soak.Failed()) {
    next += std::chrono::milliseconds(100);
    while (std::chrono::steady_clock::now() < next) usleep(10000);  // the storm cuts sleeps short
    if (urandom >= 0 && ioctl(urandom, RNDRESEEDCRNG) == 0)
      g_reseeds.fetch_add(1, std::memory_order_relaxed);
    else
      reseed_error = errno;
    struct grndpool_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    grndpool_get_stats(&s);
    if (s.locked_bytes > max_locked) max_locked = s.locked_bytes;
    g_soak.DrainHandlerWords();
  }
  timer_delete(timer);
  g_stop = true;
  for (auto &t : threads) t.join();
  g_soak.DrainHandlerWords();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const bool pass = !g_soak.Failed() && g_fork_counts.child_failures.load() == 0 &&
                    max_locked <= budget && g_fork_counts.forks.load() > 0 &&
                    g_soak.HandlerDraws() > 0 && g_reseeds.load() > 0;
  if (g_soak.HandlerZeroWords() != 0)
    fprintf(stderr, "soak: %llu all-zero words from signal-handler draws\n",
            (unsigned long long)g_soak.HandlerZeroWords());
  if (g_reseeds.load() == 0) fprintf(stderr, "soak: no forced reseed (errno %d)\n", reseed_error);
  printf(
      "soak: %.0f s, %llu draws, %llu forks (%llu raw), %llu threads, %llu handler draws, %llu "
      "reseeds: %llu repeats, %llu zero words, %llu failed children, max locked %llu <= budget "
      "%llu: %s\n",
      elapsed, (unsigned long long)g_soak.Draws(), (unsigned long long)g_fork_counts.forks.load(),
      (unsigned long long)g_fork_counts.raw_forks.load(), (unsigned long long)g_threads.load(),
      (unsigned long long)g_soak.HandlerDraws(), (unsigned long long)g_reseeds.load(),
      (unsigned long long)g_soak.Repeats(), (unsigned long long)g_soak.ZeroWords(),
      (unsigned long long)g_fork_counts.child_failures.load(), (unsigned long long)max_locked,
      (unsigned long long)budget, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
