// SPDX-License-Identifier: MIT
// Guest side of the VM-clone test (kernel/qemu/vm-clone.py), linked fully static
// against the library and run by the guest's /init.
//
//   vm_clone                   starts one worker per mode and waits for them
//   vm_clone worker MODE       MODE: per-draw (GRND_TIMESTAMP checked on every
//                              draw) or per-refill (stock vDSO, checked on refill)
//
// Each worker draws once, so that the library holds buffered bytes, reports
// ready, and blocks in poll() on the console until the host types a line. The
// host saves the VM while the workers block and resumes clones of it; in each
// clone the line arrives just after resume. Each worker then draws 16-byte
// blocks as fast as it can and records, after every draw, grndpool_stats()'s
// generation_changes: the draws made before it rose were served from bytes
// buffered before the clone (stale), the rest after the reseed became visible
// (fresh). It also counts the draws made before the kernel's own GRND_TIMESTAMP
// cookie changed (kernel_stale), to tell the kernel's delay from the library's.
// It prints the counts and the blocks (up to kMaxStale stale, kFresh
// fresh) in lines the host parses:
//
//   GRNDPOOL-CLONE: <mode> result stale=<n> kernel_stale=<n> fresh=<n> visible_us=<t> ...
//   GRNDPOOL-CLONE: <mode> S|F <index> <hex block> ...
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"

namespace {

constexpr size_t kBlockBytes = 16;
constexpr size_t kMaxStale = 4096;  // stale blocks kept (all are counted)
constexpr size_t kFresh = 256;      // fresh blocks drawn after the change is seen
constexpr double kGiveUpSeconds = 10;
constexpr size_t kBlocksPerLine = 16;
constexpr unsigned kGrndTimestamp = 0x0008;  // the series' uapi flag

struct Mode {
  const char *name;
  const char *source;    // GRNDPOOL_SOURCE for the worker
  const char *expected;  // what grndpool_describe() must say about the check
};
constexpr Mode kModes[] = {
    {"per-draw", "grnd_timestamp", "checked every draw"},
    {"per-refill", "vdso", "checked every refill"},
};

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The kernel's own view, to tell its delay from the library's: true when the
// GRND_TIMESTAMP cookie in *cookie was stale (the syscall then updated it).
bool KernelCookieChanged(uint64_t *cookie) {
  return syscall(SYS_getrandom, cookie, sizeof *cookie, kGrndTimestamp) != 0;
}

uint64_t GenerationChanges() {
  struct grndpool_stats stats {};
  grndpool_stats(&stats);
  return stats.generation_changes;
}

std::string ResultPath(const char *mode) {
  return std::string("/tmp/vm_clone-") + mode + ".out";
}

void PrintBlocks(const char *mode, char kind, const std::vector<uint8_t> &blocks) {
  const size_t count = blocks.size() / kBlockBytes;
  for (size_t first = 0; first < count; first += kBlocksPerLine) {
    std::string line;
    for (size_t i = first; i < count && i < first + kBlocksPerLine; ++i) {
      char hex[2 * kBlockBytes + 2];
      for (size_t j = 0; j < kBlockBytes; ++j)
        snprintf(hex + 2 * j, 3, "%02x", blocks[i * kBlockBytes + j]);
      line += ' ';
      line += hex;
    }
    printf("GRNDPOOL-CLONE: %s %c %zu%s\n", mode, kind, first, line.c_str());
  }
}

int Worker(const char *mode, int ready_fd) {
  const Mode *m = nullptr;
  for (const Mode &candidate : kModes)
    if (strcmp(candidate.name, mode) == 0) m = &candidate;
  if (m == nullptr) {
    fprintf(stderr, "vm_clone: unknown mode %s\n", mode);
    return 2;
  }
  uint8_t block[kBlockBytes];
  grndpool_buf(block, sizeof block);  // the library now holds buffered bytes
  const std::string describe = grndpool_describe();
  printf("GRNDPOOL-CLONE: %s describe %s\n", mode, describe.c_str());
  if (describe.find(m->expected) == std::string::npos) {
    printf("GRNDPOOL-CLONE: %s error: the library is not %s\n", mode, m->expected);
    return 1;
  }
  const uint64_t before = GenerationChanges();
  uint64_t cookie = 0;
  if (syscall(SYS_getrandom, &cookie, sizeof cookie, kGrndTimestamp) != sizeof cookie) {
    printf("GRNDPOOL-CLONE: %s error: getrandom(GRND_TIMESTAMP) does not work\n", mode);
    return 1;
  }
  printf("GRNDPOOL-CLONE: %s ready\n", mode);
  fflush(stdout);
  if (write(ready_fd, "r", 1) != 1) return 1;
  close(ready_fd);

  // Wake up, without reading, when the host's line arrives: both workers wake.
  pollfd pfd = {0, POLLIN, 0};
  while (poll(&pfd, 1, -1) != 1) {
  }
  const double start = Now();

  std::vector<uint8_t> stale, fresh;
  size_t stale_count = 0, kernel_stale = 0;
  bool kernel_changed = false;
  double visible = -1;
  uint64_t after = before;
  while (fresh.size() < kFresh * kBlockBytes) {
    grndpool_buf(block, sizeof block);
    after = GenerationChanges();
    if (!kernel_changed && !(kernel_changed = KernelCookieChanged(&cookie))) ++kernel_stale;
    if (after == before) {
      if (Now() - start > kGiveUpSeconds) break;
      if (stale.size() < kMaxStale * kBlockBytes)
        stale.insert(stale.end(), block, block + sizeof block);
      ++stale_count;
      continue;
    }
    if (visible < 0) visible = Now() - start;
    fresh.insert(fresh.end(), block, block + sizeof block);
  }
  // The two workers' long lines would interleave on the console: the results go
  // to a file that the coordinator prints once both are done.
  if (freopen(ResultPath(mode).c_str(), "w", stdout) == nullptr) return 1;
  struct grndpool_stats stats {};
  grndpool_stats(&stats);
  printf(
      "GRNDPOOL-CLONE: %s result stale=%zu kernel_stale=%zu fresh=%zu visible_us=%.0f "
      "gen=%llu->%llu bytes_discarded=%llu refills=%llu\n",
      mode, stale_count, kernel_stale, fresh.size() / kBlockBytes,
      visible < 0 ? -1.0 : visible * 1e6, static_cast<unsigned long long>(before),
      static_cast<unsigned long long>(after),
      static_cast<unsigned long long>(stats.bytes_discarded),
      static_cast<unsigned long long>(stats.refills));
  PrintBlocks(mode, 'S', stale);
  PrintBlocks(mode, 'F', fresh);
  fflush(stdout);
  return 0;
}

int Coordinator(const char *self) {
  int ready[2];
  if (pipe(ready) != 0) return 1;
  std::vector<pid_t> children;
  for (const Mode &m : kModes) {
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      setenv("GRNDPOOL_SOURCE", m.source, 1);
      const std::string fd = std::to_string(ready[1]);
      execl(self, self, "worker", m.name, fd.c_str(), static_cast<char *>(nullptr));
      _exit(127);
    }
    if (pid < 0) return 1;
    children.push_back(pid);
  }
  close(ready[1]);
  char byte;
  size_t ready_count = 0;
  while (ready_count < children.size() && read(ready[0], &byte, 1) == 1) ++ready_count;
  if (ready_count == children.size()) printf("GRNDPOOL-CLONE: all ready\n");
  fflush(stdout);
  int failures = ready_count == children.size() ? 0 : 1;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  for (const Mode &m : kModes) {
    FILE *result = fopen(ResultPath(m.name).c_str(), "r");
    if (result == nullptr) continue;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, result)) > 0) fwrite(chunk, 1, got, stdout);
    fclose(result);
  }
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "worker") == 0) return Worker(argv[2], atoi(argv[3]));
  if (argc == 1) return Coordinator("/proc/self/exe");
  fprintf(stderr, "usage: vm_clone | vm_clone worker per-draw|per-refill READY_FD\n");
  return 2;
}
