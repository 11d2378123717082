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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "memlock_child.h"

#include "lib/options.h"
#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

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
         kThreadStackBytes / 1024,
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
