// SPDX-License-Identifier: Apache-2.0
// memlock_wall: how much memory each strategy locks as threads multiply, and
// where locking stops under RLIMIT_MEMLOCK.
//
// For every strategy and 1, 2, 4, ..., --max-threads threads, one child process
// (this binary re-executed with --child, so no counter or lock carries over
// from another run): every thread draws once, then all threads wait while the
// main thread reads VmLck from /proc/self/status and grndpool_stats. The
// parent prints a table and, with --csv, writes the same rows as CSV.
//
// Children drop CAP_IPC_LOCK first (root may lock without limit) unless
// --keep-cap-ipc-lock is given.
//
//   memlock_wall [--max-threads N] [--csv PATH] [--strategies a,b,...] [--keep-cap-ipc-lock]
#include <linux/capability.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "options.h"
#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

constexpr size_t kThreadStack = 64 * 1024;  // so 4096 threads fit easily
constexpr unsigned kChildTimeoutSeconds = 120;
const char kCsvHeader[] =
    "strategy,threads_requested,threads_started,vmlck_kib_before,vmlck_kib,locked_bytes,"
    "mlock_failures,slab_bytes,slices_in_use";

long VmLckKib() {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "VmLck: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

// All threads draw once, then park here until the main thread has read the
// counters; the main thread waits for exactly the threads that started, so a
// failed pthread_create cannot deadlock it (unlike a fixed-count barrier).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int drawn = 0;
  bool release = false;
};

struct ThreadArgs {
  Gate *gate;
  void (*draw)(void *, size_t);
};

void *DrawOnceAndWait(void *p) {
  auto *args = static_cast<ThreadArgs *>(p);
  uint32_t v;
  args->draw(&v, sizeof v);
  __asm__ volatile("" : : "r"(v));
  std::unique_lock<std::mutex> lock(args->gate->mu);
  ++args->gate->drawn;
  args->gate->cv.notify_all();
  args->gate->cv.wait(lock, [&] { return args->gate->release; });
  return nullptr;
}

// StrategyFor by name; the parent also set GRNDPOOL_STRATEGY, so the library's
// process-wide set-up is the one that strategy gets in production.
void (*DrawFor(const std::string &name))(void *, size_t) {
  for (grndpool::Strategy s : grndpool::kAllStrategies)
    if (name == grndpool::StrategyName(s)) return grndpool::StrategyFor(s).draw;
  return nullptr;
}

// Root (CAP_IPC_LOCK) may lock past RLIMIT_MEMLOCK; a server usually runs
// without it. Dropping it makes the limit apply, as for that server.
bool DropIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data) == 0;
}

// The child: one strategy, `threads` threads; prints one CSV row on stdout.
int Child(const std::string &strategy, int threads, bool keep_ipc_lock) {
  alarm(kChildTimeoutSeconds);  // a wedged child must not stall the whole run
  if (!keep_ipc_lock && !DropIpcLock()) {
    perror("memlock_wall: capset (dropping CAP_IPC_LOCK)");
    return 1;
  }
  grndpool_describe();  // initialise before measuring the baseline
  const long before = VmLckKib();
  void (*draw)(void *, size_t) = DrawFor(strategy);
  if (draw == nullptr) {
    fprintf(stderr, "memlock_wall: unknown strategy '%s'\n", strategy.c_str());
    return 2;
  }

  Gate gate;
  ThreadArgs args{&gate, draw};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStack);
  std::vector<pthread_t> ids;
  ids.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pthread_t id;
    if (pthread_create(&id, &attr, DrawOnceAndWait, &args) != 0) break;
    ids.push_back(id);
  }
  pthread_attr_destroy(&attr);
  const int started = static_cast<int>(ids.size());
  {
    std::unique_lock<std::mutex> lock(gate.mu);
    gate.cv.wait(lock, [&] { return gate.drawn == started; });
  }
  const long vmlck = VmLckKib();
  struct grndpool_stats st = {};  // zeroed: a size field of 0 asks for all
  grndpool_get_stats(&st);
  {
    std::lock_guard<std::mutex> lock(gate.mu);
    gate.release = true;
  }
  gate.cv.notify_all();
  for (pthread_t id : ids) pthread_join(id, nullptr);
  printf("%s,%d,%d,%ld,%ld,%llu,%llu,%llu,%llu\n", strategy.c_str(), threads, started, before,
         vmlck, static_cast<unsigned long long>(st.locked_bytes),
         static_cast<unsigned long long>(st.mlock_failures),
         static_cast<unsigned long long>(st.slab_bytes),
         static_cast<unsigned long long>(st.slices_in_use));
  return 0;
}

// Runs `self --child strategy threads` with GRNDPOOL_STRATEGY set; returns its
// CSV row, or an empty string if it failed.
std::string RunChild(const std::string &strategy, int threads, bool keep_ipc_lock) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    setenv("GRNDPOOL_STRATEGY", strategy.c_str(), 1);
    const std::string n = std::to_string(threads);
    execl("/proc/self/exe", "memlock_wall", keep_ipc_lock ? "--child-keep-cap" : "--child",
          strategy.c_str(), n.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t got;
  while ((got = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(got));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "memlock_wall: child %s/%d failed (status 0x%x)\n", strategy.c_str(), threads,
            status);
    return "";
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<std::string> Split(const std::string &s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

int Parent(int max_threads, const char *csv_path, std::vector<std::string> strategies,
           bool keep_ipc_lock) {
  std::vector<std::string> known;
  for (grndpool::Strategy s : grndpool::kAllStrategies) known.push_back(grndpool::StrategyName(s));
  if (strategies.empty()) strategies = known;
  for (const std::string &s : strategies)
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      fprintf(stderr, "memlock_wall: unknown strategy '%s'\n", s.c_str());
      return 2;
    }
  struct rlimit limit {};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  printf("memlock_wall: RLIMIT_MEMLOCK=%lld bytes, thread stack %zu KiB, one child per row, %s\n",
         limit.rlim_cur == RLIM_INFINITY ? -1LL : static_cast<long long>(limit.rlim_cur),
         kThreadStack / 1024,
         keep_ipc_lock ? "CAP_IPC_LOCK kept (root may lock past the limit)"
                       : "CAP_IPC_LOCK dropped (the limit applies, as for an unprivileged server)");
  printf("%-11s %8s %8s %10s %10s %12s %10s %12s %8s\n", "strategy", "threads", "started",
         "VmLck0 KiB", "VmLck KiB", "locked_bytes", "mlock_fail", "slab_bytes", "slices");
  std::vector<std::string> rows;
  for (const std::string &strategy : strategies) {
    fprintf(stderr, "memlock_wall: %s ...\n", strategy.c_str());
    for (int t = 1; t <= max_threads; t *= 2) {
      const std::string row = RunChild(strategy, t, keep_ipc_lock);
      const std::vector<std::string> f = Split(row, ',');
      if (f.size() != 9) continue;
      rows.push_back(row);
      printf("%-11s %8s %8s %10s %10s %12s %10s %12s %8s\n", f[0].c_str(), f[1].c_str(),
             f[2].c_str(), f[3].c_str(), f[4].c_str(), f[5].c_str(), f[6].c_str(), f[7].c_str(),
             f[8].c_str());
      fflush(stdout);
    }
  }
  if (csv_path != nullptr) {
    FILE *f = fopen(csv_path, "w");
    if (f == nullptr) {
      perror(csv_path);
      return 1;
    }
    fprintf(f, "%s\n", kCsvHeader);
    for (const std::string &r : rows) fprintf(f, "%s\n", r.c_str());
    fclose(f);
    printf("memlock_wall: wrote %s\n", csv_path);
  }
  return 0;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0)
    return grndpool_bench::Child(argv[2], atoi(argv[3]), false);
  if (argc == 4 && strcmp(argv[1], "--child-keep-cap") == 0)
    return grndpool_bench::Child(argv[2], atoi(argv[3]), true);
  int max_threads = 4096;
  const char *csv = nullptr;
  std::vector<std::string> strategies;
  bool keep_ipc_lock = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--max-threads") == 0 && i + 1 < argc) {
      max_threads = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv = argv[++i];
    } else if (strcmp(argv[i], "--keep-cap-ipc-lock") == 0) {
      keep_ipc_lock = true;
    } else if (strcmp(argv[i], "--strategies") == 0 && i + 1 < argc) {
      strategies = grndpool_bench::Split(argv[++i], ',');
    } else {
      fprintf(
          stderr,
          "usage: %s [--max-threads N] [--csv PATH] [--strategies a,b,...] [--keep-cap-ipc-lock]\n",
          argv[0]);
      return 2;
    }
  }
  return grndpool_bench::Parent(max_threads, csv, strategies, keep_ipc_lock);
}
