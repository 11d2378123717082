// SPDX-License-Identifier: Apache-2.0
#include "tools/remote_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lib/stats.h"
#include "lib/stats_page.h"

namespace grndpool::tools {
namespace {

// Where the page is mapped in `pid`: the start of the line of /proc/PID/maps
// that names the memfd. 0 when there is none; -errno when maps cannot be read.
long long FindPage(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/maps", pid);
  FILE *maps = fopen(path, "re");
  if (maps == nullptr) return -errno;
  char want[64];
  snprintf(want, sizeof want, "/memfd:%s", kStatsPageName);
  char text[4096];
  unsigned long long start = 0;
  while (start == 0 && fgets(text, sizeof text, maps) != nullptr) {
    const char *name = strchr(text, '/');
    if (name != nullptr && strncmp(name, want, strlen(want)) == 0 &&
        (name[strlen(want)] == ' ' || name[strlen(want)] == '\n'))
      start = strtoull(text, nullptr, 16);
  }
  const bool read_error = ferror(maps) != 0;
  fclose(maps);
  if (read_error) return -EIO;
  return static_cast<long long>(start);
}

bool ReadAt(int mem, uint64_t address, void *out, size_t len) {
  return pread(mem, out, len, static_cast<off_t>(address)) == static_cast<ssize_t>(len);
}

std::string Errno(int e) {
  return strerror(e);
}

}  // namespace

bool ReadRemoteStats(const char *pid_text, std::string *line, std::string *error) {
  char *end = nullptr;
  errno = 0;
  const long pid = strtol(pid_text, &end, 10);
  if (pid_text[0] == '\0' || *end != '\0' || errno != 0 || pid <= 0 || pid > INT32_MAX) {
    *error = std::string("'") + pid_text + "' is not a process id";
    return false;
  }
  const long long page = FindPage(pid);
  if (page == -ENOENT || page == -ESRCH) {
    *error = "no process " + std::to_string(pid);
    return false;
  }
  if (page < 0) {
    *error =
        "cannot read /proc/" + std::to_string(pid) + "/maps: " + Errno(static_cast<int>(-page));
    return false;
  }
  if (page == 0) {
    *error = "process " + std::to_string(pid) +
             " has no grndpool stats page (it does not use libgrndpool 0.4 or later, has not "
             "drawn yet, or could not map the page)";
    return false;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/mem", pid);
  const int mem = open(path, O_RDONLY | O_CLOEXEC);
  StatsPageHeader header{};
  if (mem < 0 || !ReadAt(mem, static_cast<uint64_t>(page), &header, sizeof header)) {
    *error = "cannot read the memory of process " + std::to_string(pid) + " (" + path + ": " +
             Errno(errno) + "; it needs the same user and ptrace rights, or root)";
    if (mem >= 0) close(mem);
    return false;
  }
  if (memcmp(header.magic, kStatsPageMagic, sizeof header.magic) != 0 ||
      header.layout != kStatsPageLayout || header.header_bytes != sizeof header ||
      header.entry_bytes != sizeof(StatsPageEntry) || header.entry_count > 64) {
    *error = "process " + std::to_string(pid) + "'s grndpool stats page has layout " +
             std::to_string(header.layout) + ", this grndpool-env reads layout " +
             std::to_string(kStatsPageLayout);
    close(mem);
    return false;
  }
  std::vector<StatsPageEntry> entries(header.entry_count);
  bool ok = ReadAt(mem, static_cast<uint64_t>(page) + sizeof header, entries.data(),
                   entries.size() * sizeof(StatsPageEntry));
  char text[2048];
  size_t used = static_cast<size_t>(snprintf(text, sizeof text, "grndpool stats: pid=%ld", pid));
  for (size_t i = 0; ok && i < entries.size(); ++i) {
    uint64_t value = 0, extra = 0;
    ok = ReadAt(mem, entries[i].word, &value, sizeof value) &&
         (entries[i].extra == 0 || ReadAt(mem, entries[i].extra, &extra, sizeof extra));
    entries[i].name[sizeof entries[i].name - 1] = '\0';
    used = AppendCounter(text, sizeof text, used, entries[i].name, value + extra);
  }
  const int read_errno = errno;
  close(mem);
  if (!ok) {
    *error =
        "cannot read the counters of process " + std::to_string(pid) + ": " + Errno(read_errno);
    return false;
  }
  *line = text;
  // A child forked without atfork handlers (raw clone) writes its pid at its
  // first draw; until then the counters are its parent's copy.
  if (header.pid != pid)
    *line += " (copied from pid " + std::to_string(header.pid) +
             ": this child has not drawn since fork)";
  return true;
}

}  // namespace grndpool::tools
