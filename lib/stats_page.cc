// SPDX-License-Identifier: Apache-2.0
#include "lib/stats_page.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "lib/fork.h"
#include "lib/slab_segment.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

StatsPageHeader *g_page = nullptr;
char g_status[96] = "not-yet";

// In a child: the page (private, so the write is the child's own) names it.
void NoForkWork() {}
void ChildAfterFork(bool) {
  if (g_page != nullptr) __atomic_store_n(&g_page->pid, getpid(), __ATOMIC_RELAXED);
}
const fork::Hooks kForkHooks{NoForkWork, NoForkWork, ChildAfterFork};

}  // namespace

void InitStatsPage() {
  int error = 0;
  void *page = MapNamedPage(kStatsPageName, &error);
  if (page == nullptr) {
    snprintf(g_status, sizeof g_status, "unavailable (%s)", strerror(error));
    return;
  }
  static_assert(sizeof(StatsPageHeader) + 32 * sizeof(StatsPageEntry) <= 4096);
  auto *header = static_cast<StatsPageHeader *>(page);
  auto *entries = reinterpret_cast<StatsPageEntry *>(header + 1);
  const size_t fit = (PageBytes() - sizeof *header) / sizeof *entries;
  const size_t count = kCounterCount < fit ? kCounterCount : fit;
  for (size_t i = 0; i < count; ++i) {
    snprintf(entries[i].name, sizeof entries[i].name, "%s", kCounterWords[i].name);
    entries[i].word = reinterpret_cast<uintptr_t>(kCounterWords[i].word);
    entries[i].extra = reinterpret_cast<uintptr_t>(kCounterWords[i].extra);
  }
  memcpy(header->magic, kStatsPageMagic, sizeof header->magic);
  header->layout = kStatsPageLayout;
  header->header_bytes = sizeof *header;
  header->entry_bytes = sizeof *entries;
  header->entry_count = static_cast<uint32_t>(count);
  header->pid = getpid();
  header->stats_version = GRNDPOOL_STATS_VERSION;
  g_page = header;
  snprintf(g_status, sizeof g_status, "/memfd:%s", kStatsPageName);
  fork::RegisterHooks(&kForkHooks);
}

const char *StatsPageStatus() {
  return g_status;
}

}  // namespace grndpool
