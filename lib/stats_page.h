// SPDX-License-Identifier: Apache-2.0
// The counters, readable from outside the process without its help (no
// thread, no signal handler): at start-up the library maps one page from a
// memfd named "grndpool-stats", so /proc/PID/maps shows where it is, and
// writes there where each counter lives. `grndpool-env --stats PID` reads the
// page and the counters through /proc/PID/mem (the same user with ptrace
// rights, or root). The page holds names, addresses and this process's id:
// no secret, and nothing a reader allowed to read /proc/PID/maps could not see.
#pragma once

#include <cstdint>

namespace grndpool {

// The memfd's name: /proc/PID/maps shows "/memfd:grndpool-stats (deleted)".
inline constexpr char kStatsPageName[] = "grndpool-stats";
inline constexpr char kStatsPageMagic[16] = "grndpool-stats";
// Bumped when the layout below changes; a reader refuses other layouts.
inline constexpr uint32_t kStatsPageLayout = 1;

struct StatsPageHeader {
  char magic[16];          // kStatsPageMagic
  uint32_t layout;         // kStatsPageLayout
  uint32_t header_bytes;   // sizeof(StatsPageHeader): the entries follow
  uint32_t entry_bytes;    // sizeof(StatsPageEntry)
  uint32_t entry_count;    // entries, in GRNDPOOL_COUNTERS order
  int32_t pid;             // whose counters: a child writes its own at its reset after fork
  uint32_t stats_version;  // GRNDPOOL_STATS_VERSION of the library
};

struct StatsPageEntry {
  char name[48];   // the counter's name, as in struct grndpool_stats
  uint64_t word;   // address in the process of its uint64_t value
  uint64_t extra;  // address of a second uint64_t added to it, or 0
};

// Start-up only, before fork::Init(): maps and fills the page, and registers
// the fork hook that writes a child's pid. Failure (memfd_create refused by a
// sandbox, say) leaves the process without a page; nothing else changes.
void InitStatsPage();

// "/memfd:grndpool-stats", or "unavailable (memfd_create: ...)" for describe.
const char *StatsPageStatus();

}  // namespace grndpool
