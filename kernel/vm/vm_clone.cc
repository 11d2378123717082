// SPDX-License-Identifier: MIT
// Guest side of the VM-clone test (kernel/qemu/vm-clone.py), linked fully static
// against the library and run by the guest's /init.
//
//   vm_clone                      waits for a quiet point of the kernel's reseed
//                                 schedule, starts one worker per mode, reports
//   vm_clone worker MODE R G      MODE: per-draw, unchecked or per-refill;
//                                 R, G: the coordinator's ready and go pipes
//
// Modes: per-draw is the library on GRND_TIMESTAMP, checked before every draw;
// unchecked is the same with the check disabled (a KernelOps copy installed
// through SetKernelOpsForTesting whose timestamp() always answers "current": the
// positive control, which must fail the host's assertion); per-refill is the
// stock vDSO's generation, checked at each refill.
//
// The coordinator waits until the guest has been up kMinUptime seconds and the
// kernel's next scheduled reseed (every 60 s from then on) is at least
// kMarginSeconds away, logging every reseed it sees, so that a clone that is not
// told about the VM fork (the same-ID control) stays on the same generation for
// the whole of its draws. Then the workers start: kThreads threads each, which
// draw once (so the library holds buffered bytes), and block. The host saves
// the VM and resumes clones; a line typed on the console ("go" or "go control")
// wakes the coordinator, which tells the workers through a pipe each. Every
// thread then draws blocks of kSizes bytes in turn and records each one (a
// 64-bit FNV-1a fingerprint of the whole block), and after
// every draw asks the kernel itself, through the getrandom syscall, whether its
// GRND_TIMESTAMP cookie changed: the first draw after which it did is the one in
// flight when the reseed became visible (index k). "go": kAfter more draws, then
// stop; "go control": kControlDraws draws. Results go to files, printed by the
// coordinator once all workers are done, in lines the host parses:
//
//   GRNDPOOL-CLONE: reseed uptime_ms=<t> next_ms=<predicted>   (coordinator)
//   GRNDPOOL-CLONE: all ready uptime_ms=<t> last_reseed_ms=<t> next_reseed_ms=<t>
//   GRNDPOOL-CLONE: kernel reseed_us=<t after the line was read, by the syscall>
//   GRNDPOOL-CLONE: <mode> thread <t> result k=<k|-1> draws=<n> visible_us=<us>
//                   start_ms=<t> end_ms=<t> gen_changes=<n>
//   GRNDPOOL-CLONE: <mode> thread <t> fp <first index> <16 hex> ...
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/kernel/source.h"
#include "lib/runtime.h"

namespace {

constexpr int kThreads = 3;
constexpr size_t kSizes[] = {16, 24, 32, 48, 64, 96};  // bytes per draw, in turn
constexpr size_t kMaxBlock = 96;
constexpr long kAfter = 1024;         // draws after the one in flight at the reseed
constexpr long kControlDraws = 3000;  // draws of a control clone
constexpr double kGiveUpSeconds = 30;
constexpr double kMinUptime = 120;     // seconds: the kernel reseeds every 60 s from then
constexpr double kMarginSeconds = 30;  // at least this long to the next scheduled reseed
constexpr size_t kPerLine = 32;
constexpr unsigned kGrndTimestamp = 0x0008;  // the series' uapi flag

struct Mode {
  const char *name;
  const char *source;    // GRNDPOOL_SOURCE for the worker
  const char *expected;  // what grndpool_describe() must say about the check
};
constexpr Mode kModes[] = {
    {"per-draw", "grnd_timestamp", "checked every draw"},
    {"unchecked", "grnd_timestamp", "checked every draw"},
    {"per-refill", "vdso", "checked every refill"},
};

double Uptime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The kernel's own answer, by the syscall: true when *cookie was stale (and is
// now updated).
bool KernelCookieChanged(uint64_t *cookie) {
  return syscall(SYS_getrandom, cookie, sizeof *cookie, kGrndTimestamp) != 0;
}

uint64_t Fingerprint(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

uint64_t GenerationChanges() {
  struct grndpool_stats stats {};
  grndpool_get_stats(&stats);
  return stats.generation_changes;
}

// The unchecked mode's timestamp() and vDSO entry (which the draws' inline
// lane calls): every cookie is "current".
long AlwaysCurrent(uint64_t *) {
  return 0;
}
long AlwaysCurrentEntry(void *, size_t, unsigned, void *, size_t) {
  return 0;
}
grndpool::kernel::KernelOps g_unchecked_ops;

struct Thread {
  int index = 0;
  pthread_t handle{};
  std::vector<uint64_t> fps;
  long k = -1;
  double visible = -1, start = 0, end = 0;
  uint64_t cookie = 0;
};

std::atomic<int> g_go{0};  // 0: wait; 1: a clone with its own ID; 2: a control
std::atomic<int> g_ready{0};

void *ThreadMain(void *arg) {
  Thread &t = *static_cast<Thread *>(arg);
  uint8_t block[kMaxBlock];
  grndpool_buf(block, kSizes[0]);  // the library now holds buffered bytes
  KernelCookieChanged(&t.cookie);  // the kernel's cookie as of the save
  g_ready.fetch_add(1);
  while (g_go.load() == 0) usleep(1000);
  const bool control = g_go.load() == 2;
  t.start = Uptime();
  t.fps.reserve(8192);
  for (long i = 0;; ++i) {
    const size_t n = kSizes[(static_cast<size_t>(i) + static_cast<size_t>(t.index)) %
                            (sizeof kSizes / sizeof kSizes[0])];
    grndpool_buf(block, n);
    t.fps.push_back(Fingerprint(block, n));
    if (t.k < 0 && KernelCookieChanged(&t.cookie)) {
      t.k = i;
      t.visible = Uptime() - t.start;
    }
    const long drawn = i + 1;
    if (control ? drawn >= kControlDraws : t.k >= 0 && drawn > t.k + kAfter) break;
    if (!control && t.k < 0 && Uptime() - t.start > kGiveUpSeconds) break;
  }
  t.end = Uptime();
  return nullptr;
}

std::string ResultPath(const char *mode) {
  return std::string("/tmp/vm_clone-") + mode + ".out";
}

// Writes what the host parses for one worker's threads.
void Report(FILE *out, const char *mode, const std::vector<Thread> &threads) {
  const uint64_t changes = GenerationChanges();
  for (const Thread &t : threads) {
    fprintf(out,
            "GRNDPOOL-CLONE: %s thread %d result k=%ld draws=%zu visible_us=%.0f start_ms=%.0f "
            "end_ms=%.0f gen_changes=%llu\n",
            mode, t.index, t.k, t.fps.size(), t.visible < 0 ? -1.0 : t.visible * 1e6, t.start * 1e3,
            t.end * 1e3, static_cast<unsigned long long>(changes));
    for (size_t first = 0; first < t.fps.size(); first += kPerLine) {
      fprintf(out, "GRNDPOOL-CLONE: %s thread %d fp %zu", mode, t.index, first);
      for (size_t i = first; i < t.fps.size() && i < first + kPerLine; ++i)
        fprintf(out, " %016llx", static_cast<unsigned long long>(t.fps[i]));
      fputc('\n', out);
    }
  }
}

// A worker: its threads buffer, it says ready on ready_fd, then waits for the
// coordinator's byte on go_fd ('g': a clone with its own ID, 'c': a control).
int Worker(const char *mode, int ready_fd, int go_fd) {
  const Mode *m = nullptr;
  for (const Mode &candidate : kModes)
    if (strcmp(candidate.name, mode) == 0) m = &candidate;
  if (m == nullptr) {
    fprintf(stderr, "vm_clone: unknown mode %s\n", mode);
    return 2;
  }
  if (strcmp(mode, "unchecked") == 0) {
    // The library as per-draw, but its check never sees a reseed.
    const grndpool::kernel::SelectedSource real =
        grndpool::kernel::SelectSource(grndpool::kernel::SourceRequest::kGrndTimestamp);
    g_unchecked_ops = *real.ops;
    g_unchecked_ops.timestamp = AlwaysCurrent;
    if (g_unchecked_ops.vgetrandom != nullptr) g_unchecked_ops.vgetrandom = AlwaysCurrentEntry;
    grndpool::SetKernelOpsForTesting(&g_unchecked_ops);
  }
  std::vector<Thread> threads(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads[i].index = i;
    if (pthread_create(&threads[i].handle, nullptr, ThreadMain, &threads[i]) != 0) return 1;
  }
  while (g_ready.load() < kThreads) usleep(1000);
  const std::string describe = grndpool_describe();
  printf("GRNDPOOL-CLONE: %s describe %s\n", mode, describe.c_str());
  if (describe.find(m->expected) == std::string::npos) {
    printf("GRNDPOOL-CLONE: %s error: the library is not %s\n", mode, m->expected);
    return 1;
  }
  fflush(stdout);
  if (write(ready_fd, "r", 1) != 1) return 1;
  close(ready_fd);

  char go = 0;
  while (read(go_fd, &go, 1) != 1) {
    if (errno != EINTR) return 1;
  }
  g_go.store(go == 'c' ? 2 : 1);
  for (Thread &t : threads) pthread_join(t.handle, nullptr);
  // The workers' long lines would interleave on the console: the results go
  // to a file that the coordinator prints once all are done.
  FILE *out = fopen(ResultPath(mode).c_str(), "w");
  if (out == nullptr) return 1;
  Report(out, mode, threads);
  return fclose(out) == 0 ? 0 : 1;
}

// The interval the kernel (drivers/char/random.c, crng_reseed_interval()) sets
// for the next scheduled reseed when it reseeds at uptime t: t/2 seconds (at
// least 1) in the first two minutes, then 60 s.
double ReseedInterval(double t) {
  if (t >= 120) return 60;
  const double half = static_cast<double>(static_cast<unsigned>(t) / 2);
  return half < 1 ? 1 : half;
}

// Watches the kernel's cookie until the guest has been up kMinUptime and the
// next scheduled reseed is kMarginSeconds away or more. Returns the uptime of
// the last reseed seen (its schedule's origin); prints each one.
double WaitForQuietSchedule(double *next) {
  uint64_t cookie = 0;
  KernelCookieChanged(&cookie);
  double last = Uptime();  // an upper bound until a reseed is seen
  *next = last + ReseedInterval(last);
  for (;;) {
    const double now = Uptime();
    if (KernelCookieChanged(&cookie)) {
      last = now;
      *next = now + ReseedInterval(now);
      printf("GRNDPOOL-CLONE: reseed uptime_ms=%.0f next_ms=%.0f\n", now * 1e3, *next * 1e3);
    }
    if (now >= kMinUptime && *next - now >= kMarginSeconds) return last;
    usleep(20000);
  }
}

int Coordinator(const char *self) {
  // Until the CRNG is ready the cookie means nothing: wait for it.
  unsigned char byte;
  while (syscall(SYS_getrandom, &byte, 1, 0) != 1) {
  }
  double next = 0;
  const double last = WaitForQuietSchedule(&next);

  int ready[2];
  if (pipe(ready) != 0) return 1;
  std::vector<pid_t> children;
  std::vector<int> go_fds;
  for (const Mode &m : kModes) {
    int go[2];
    if (pipe(go) != 0) return 1;
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);
      setenv("GRNDPOOL_SOURCE", m.source, 1);
      const std::string rfd = std::to_string(ready[1]), gfd = std::to_string(go[0]);
      execl(self, self, "worker", m.name, rfd.c_str(), gfd.c_str(), static_cast<char *>(nullptr));
      _exit(127);
    }
    if (pid < 0) return 1;
    close(go[0]);
    children.push_back(pid);
    go_fds.push_back(go[1]);
  }
  close(ready[1]);
  size_t ready_count = 0;
  while (ready_count < children.size() && read(ready[0], &byte, 1) == 1) ++ready_count;
  int failures = ready_count == children.size() ? 0 : 1;
  uint64_t cookie = 0;
  KernelCookieChanged(&cookie);  // as of the save
  if (failures == 0) {
    printf("GRNDPOOL-CLONE: all ready uptime_ms=%.0f last_reseed_ms=%.0f next_reseed_ms=%.0f\n",
           Uptime() * 1e3, last * 1e3, next * 1e3);
    fflush(stdout);
    // The host saves the VM here and types a line into each clone.
    char line[64] = {};
    ssize_t got;
    do got = read(0, line, sizeof line - 1);
    while (got < 0 && errno == EINTR);
    const double woke = Uptime();
    const char go = strstr(line, "control") != nullptr ? 'c' : 'g';
    for (int fd : go_fds)
      if (write(fd, &go, 1) != 1) ++failures;
    // When the kernel's own reseed became visible, by a loop of syscalls that
    // draws nothing: the workers see it only after their draw in flight.
    if (go == 'g') {
      double seen = -1;
      while (seen < 0 && Uptime() - woke < kGiveUpSeconds)
        if (KernelCookieChanged(&cookie)) seen = Uptime() - woke;
      printf("GRNDPOOL-CLONE: kernel reseed_us=%.0f\n", seen < 0 ? -1.0 : seen * 1e6);
    }
  }
  for (int fd : go_fds) close(fd);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  for (const Mode &m : kModes) {
    FILE *result = fopen(ResultPath(m.name).c_str(), "r");
    if (result == nullptr) continue;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, result)) > 0) fwrite(chunk, 1, n, stdout);
    fclose(result);
  }
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 5 && strcmp(argv[1], "worker") == 0)
    return Worker(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc == 1) return Coordinator("/proc/self/exe");
  fprintf(stderr, "usage: vm_clone | vm_clone worker MODE READY_FD GO_FD\n");
  return 2;
}
