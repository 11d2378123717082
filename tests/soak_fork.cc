// SPDX-License-Identifier: Apache-2.0
#include "tests/soak_fork.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "grndpool/grndpool.h"
#include "tests/soak_draw.h"
#include "tests/soak_store.h"

namespace grndpool::test {
namespace {

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

// What a child that sent nothing in time is doing, before it is killed: its
// state and wait channel (a child blocked on a lock shows futex_wait), and
// the kernel stack where readable (root). One line each.
void DescribeStuck(pid_t pid, bool raw) {
  fprintf(stderr, "soak: stuck child %d (%s fork):", static_cast<int>(pid), raw ? "raw" : "glibc");
  for (const char *what : {"wchan", "stat", "stack"}) {
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), what);
    const int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    const ssize_t n = read(f, text, sizeof text - 1);
    close(f);
    if (n <= 0) continue;
    text[n] = '\0';
    for (ssize_t i = 0; i < n; ++i)
      if (text[i] == '\n') text[i] = '|';
    fprintf(stderr, " %s=%s", what, text);
  }
  fprintf(stderr, "\n");
}

// Reads the child's output (10 s at most) and reaps it; false on any failure.
bool Collect(pid_t pid, int fd, ChildOutput *out, bool raw) {
  size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got < sizeof *out && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // EINTR from the storm too
    const ssize_t r = read(fd, reinterpret_cast<char *>(out) + got, sizeof *out - got);
    if (r == 0) break;
    if (r > 0) got += static_cast<size_t>(r);
  }
  if (got < sizeof *out) {
    DescribeStuck(pid, raw);
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = got == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok)
    fprintf(stderr, "soak: a child failed: %zu of %zu bytes, status 0x%x\n", got, sizeof *out,
            status);
  return ok;
}

}  // namespace

void Forker(const std::atomic<bool> &stop, ForkCounts *counts) {
  Recorder rec;
  static ChildOutput out;  // preallocated: the child writes its copy
  for (uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
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
    counts->forks.fetch_add(1, std::memory_order_relaxed);
    if (raw) counts->raw_forks.fetch_add(1, std::memory_order_relaxed);
    for (uint64_t i = 0; i < 9; ++i) DrawRound(rec, round * 9 + i);
    if (Collect(pid, fds[0], &out, raw)) {
      rec.Record(reinterpret_cast<const uint8_t *>(out.words), sizeof out.words, 8);
      rec.Record(&out.blocks[0][0], sizeof out.blocks, 16);
      rec.Record(out.bulk, sizeof out.bulk, 16, 1);  // one draw, every block kept
      rec.Record(reinterpret_cast<const uint8_t *>(out.thread_words), sizeof out.thread_words, 8);
    } else {
      counts->child_failures.fetch_add(1, std::memory_order_relaxed);
    }
    close(fds[0]);
    usleep(5000);
  }
}

}  // namespace grndpool::test
