// SPDX-License-Identifier: Apache-2.0
#include "lib/stats.h"

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "lib/kernel/syscall.h"

namespace grndpool {

Counters g_counters;

void SnapshotCounters(struct grndpool_stats *out, uint64_t live_served_bytes) {
  struct grndpool_stats full;
  memset(&full, 0, sizeof full);
  full.size = sizeof full;
  full.version = GRNDPOOL_STATS_VERSION;
#define GRNDPOOL_COPY(name, help) full.name = g_counters.name.load(std::memory_order_relaxed);
  GRNDPOOL_COUNTERS(GRNDPOOL_COPY)
#undef GRNDPOOL_COPY
  full.bytes_served += live_served_bytes;
  full.kernel_faults += kernel::g_faults.load(std::memory_order_relaxed);
  full.urandom_fallbacks += kernel::g_urandom_fills.load(std::memory_order_relaxed);
  size_t want = out->size == 0 || out->size > sizeof full ? sizeof full : out->size;
  if (want < offsetof(struct grndpool_stats, bytes_served)) return;
  memcpy(out, &full, want);
  out->size = static_cast<uint32_t>(want);
}

void PrintCounters(int fd, uint64_t live_served_bytes) {
  struct grndpool_stats st;
  st.size = sizeof st;
  SnapshotCounters(&st, live_served_bytes);
  char line[1024];
  size_t used = static_cast<size_t>(snprintf(line, sizeof line, "grndpool stats:"));
#define GRNDPOOL_PRINT(name, help)                                                           \
  if (used < sizeof line)                                                                    \
    used += static_cast<size_t>(snprintf(line + used, sizeof line - used, " %s=%llu", #name, \
                                         static_cast<unsigned long long>(st.name)));
  GRNDPOOL_COUNTERS(GRNDPOOL_PRINT)
#undef GRNDPOOL_PRINT
  if (used >= sizeof line - 1) used = sizeof line - 2;
  line[used++] = '\n';
  (void)!write(fd, line, used);
}

}  // namespace grndpool
