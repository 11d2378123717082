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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
#include "tests/soak_store.h"

namespace {

using grndpool::test::g_soak;
using grndpool::test::Recorder;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
// TSan ends a child that starts a thread after a multi-threaded fork, and
// ASan's allocator (GCC 12) has no fork handler: a child's pthread_create can
// wait forever for an allocator lock some other parent thread held.
constexpr bool kChildThreads = false;
#else
constexpr bool kChildThreads = true;
#endif
#if defined(__SANITIZE_THREAD__)
// TSan cannot see a raw fork: in the child it takes the parent's other threads
// for live ones, reports their old accesses as races, and may wait for its own
// locks they held. Under TSan every fork is glibc's.
constexpr bool kRawForks = false;
#else
constexpr bool kRawForks = true;
#endif

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_threads{0}, g_forks{0}, g_raw_forks{0}, g_reseeds{0};
std::atomic<uint64_t> g_child_failures{0};

// The draw of round i: every strategy in turn, and the public API.
void DrawWith(uint64_t i, void *out, size_t n) {
  constexpr size_t kWays = std::size(grndpool::kAllStrategies) + 1;
  const size_t way = (i / 64) % kWays;
  const grndpool::Strategy s =
      way == 0 ? grndpool::Strategy::kSlab : grndpool::kAllStrategies[way - 1];
  if (way == 0)
    grndpool_buf(out, n);
  else
    grndpool::StrategyFor(s).draw(out, n);
}

// One round of mixed sizes: fast path, refills, the large path.
void DrawRound(Recorder &rec, uint64_t i) {
  static constexpr size_t kSizes[] = {4, 8, 16, 4, 8, 64, 1000, 8, 5000};
  alignas(8) uint8_t buf[5000];
  const size_t n = kSizes[i % std::size(kSizes)];
  DrawWith(i, buf, n);
  rec.Record(buf, n);
}

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

// What a child sends back: its main thread's draws (8-byte words, 16-byte
// blocks, a bulk draw) and, where it may start threads, two threads' words.
struct ChildOutput {
  uint64_t words[64];
  uint8_t blocks[16][16];
  uint8_t bulk[2048];
  uint64_t thread_words[2][32];
};

void *ChildThread(void *arg) {
  auto *words = static_cast<uint64_t *>(arg);
  for (int i = 0; i < 32; ++i) grndpool_buf(&words[i], 8);
  return nullptr;
}

// In the child: no malloc (another parent thread may have held its lock),
// except pthread_create after glibc's fork(), which resets the allocator.
[[noreturn]] void ChildMain(ChildOutput *out, int fd, bool raw, uint64_t round) {
  const bool threads = kChildThreads && !raw;
  pthread_t ids[2];
  bool started[2] = {false, false};
  for (int t = 0; t < 2 && threads; ++t)
    started[t] = pthread_create(&ids[t], nullptr, ChildThread, out->thread_words[t]) == 0;
  for (auto &w : out->words) grndpool_buf(&w, 8);
  for (uint64_t i = 0; i < 16; ++i) DrawWith((round + i) * 64, out->blocks[i], 16);
  grndpool_buf(out->bulk, sizeof out->bulk);
  for (int t = 0; t < 2; ++t) {
    if (started[t])
      pthread_join(ids[t], nullptr);
    else
      ChildThread(out->thread_words[t]);
  }
  const bool sent = write(fd, out, sizeof *out) == static_cast<ssize_t>(sizeof *out);
  _exit(sent ? 0 : 1);
}

// Reads the child's output (10 s at most) and reaps it; false on any failure.
bool Collect(pid_t pid, int fd, ChildOutput *out) {
  size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got < sizeof *out && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // EINTR from the storm too
    const ssize_t r = read(fd, reinterpret_cast<char *>(out) + got, sizeof *out - got);
    if (r == 0) break;
    if (r > 0) got += static_cast<size_t>(r);
  }
  if (got < sizeof *out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = got == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok)
    fprintf(stderr, "soak: a child failed: %zu of %zu bytes, status 0x%x\n", got, sizeof *out,
            status);
  return ok;
}

// Forks every ~5 ms, alternating glibc fork() and raw SYS_fork; the parent
// draws right after each fork, so its bytes meet the child's in the store.
void Forker() {
  Recorder rec;
  static ChildOutput out;  // preallocated: the child writes its copy
  for (uint64_t round = 0; !g_stop.load(std::memory_order_relaxed); ++round) {
    for (uint64_t i = 0; i < 9; ++i) DrawRound(rec, round * 9 + i);  // warm, every size
    const bool raw = kRawForks && round % 2 == 1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) break;
    const pid_t pid = raw ? static_cast<pid_t>(syscall(SYS_fork)) : fork();
    if (pid == 0) {
      close(fds[0]);
      ChildMain(&out, fds[1], raw, round);
    }
    close(fds[1]);
    if (pid < 0) {
      close(fds[0]);
      continue;
    }
    g_forks.fetch_add(1, std::memory_order_relaxed);
    if (raw) g_raw_forks.fetch_add(1, std::memory_order_relaxed);
    for (uint64_t i = 0; i < 9; ++i) DrawRound(rec, round * 9 + i);
    if (Collect(pid, fds[0], &out)) {
      rec.Record(reinterpret_cast<const uint8_t *>(out.words), sizeof out.words, 8);
      rec.Record(&out.blocks[0][0], sizeof out.blocks, 16);
      rec.Record(out.bulk, sizeof out.bulk, 16, 1);  // one draw, every block kept
      rec.Record(reinterpret_cast<const uint8_t *>(out.thread_words), sizeof out.thread_words, 8);
    } else {
      g_child_failures.fetch_add(1, std::memory_order_relaxed);
    }
    close(fds[0]);
    usleep(5000);
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
  const uint64_t budget = grndpool::CurrentOptions().slab_bytes;
  const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

  timer_t timer;
  if (!StartStorm(&timer)) {
    perror("soak: signal storm");
    return 2;
  }
  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) threads.push_back(std::thread([id] { LongLived(id); }));
  threads.push_back(std::thread(Churn));
  threads.push_back(std::thread(Forker));

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

  const bool pass = !g_soak.Failed() && g_child_failures.load() == 0 && max_locked <= budget &&
                    g_forks.load() > 0 && g_soak.HandlerDraws() > 0 && g_reseeds.load() > 0;
  if (g_soak.HandlerZeroWords() != 0)
    fprintf(stderr, "soak: %llu all-zero words from signal-handler draws\n",
            (unsigned long long)g_soak.HandlerZeroWords());
  if (g_reseeds.load() == 0) fprintf(stderr, "soak: no forced reseed (errno %d)\n", reseed_error);
  printf(
      "soak: %.0f s, %llu draws, %llu forks (%llu raw), %llu threads, %llu handler draws, %llu "
      "reseeds: %llu repeats, %llu zero words, %llu failed children, max locked %llu <= budget "
      "%llu: %s\n",
      elapsed, (unsigned long long)g_soak.Draws(), (unsigned long long)g_forks.load(),
      (unsigned long long)g_raw_forks.load(), (unsigned long long)g_threads.load(),
      (unsigned long long)g_soak.HandlerDraws(), (unsigned long long)g_reseeds.load(),
      (unsigned long long)g_soak.Repeats(), (unsigned long long)g_soak.ZeroWords(),
      (unsigned long long)g_child_failures.load(), (unsigned long long)max_locked,
      (unsigned long long)budget, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
