// SPDX-License-Identifier: Apache-2.0
#include "lib/runtime.h"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "lib/kernel/source.h"
#include "lib/hot_slices.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/stats_page.h"

namespace grndpool {
namespace {

pthread_key_t g_thread_key;
bool g_have_key = false;
Process g_process{DefaultOptions(), SlabGeometry{}, nullptr};  // start-up fills it
char g_source_description[128];  // no destructor: read until the process ends
const kernel::KernelOps *g_test_ops = nullptr;
std::atomic<uint32_t> g_next_tag{0};
// Whether start-up has ended (draw.cc's start-up state): the exit-time print
// (GRNDPOOL_STATS=1), on whichever thread calls exit(), walks the slices only
// then, and sees what start-up set on another.
std::atomic<bool (*)()> g_started_up{nullptr};

void PrintLine(const char *line) {
  fprintf(stderr, "%s\n", line);
}

void PrintStatsAtExit() {
  PrintCounters(2, ServedFromLiveSlices());
}

}  // namespace

Process &InitRuntime(void (*thread_exit)(void *), bool (*started_up)()) {
  g_started_up.store(started_up, std::memory_order_release);
  g_process.options =
      ParseOptions([](const char *name) -> const char * { return secure_getenv(name); }, PrintLine);
  if (g_test_ops != nullptr) {
    g_process.kernel = g_test_ops;
    snprintf(g_source_description, sizeof g_source_description, "%s", g_test_ops->name);
  } else {
    const kernel::SelectedSource source =
        kernel::SelectSource(static_cast<kernel::SourceRequest>(g_process.options.source));
    if (source.unavailable != nullptr) {
      char line[256];
      snprintf(line, sizeof line,
               "grndpool: GRNDPOOL_SOURCE=%s is not available here (%s); using auto",
               SourceName(g_process.options.source), source.unavailable);
      PrintLine(line);
    }
    g_process.kernel = source.ops;
    snprintf(g_source_description, sizeof g_source_description, "%s", source.description);
  }
  g_have_key = pthread_key_create(&g_thread_key, thread_exit) == 0;
  InitStatsPage();
  if (g_process.options.print_stats) atexit(PrintStatsAtExit);
  return g_process;
}

const Process &CurrentProcess() {
  return g_process;
}

bool RegisterThreadExit(void *state) {
  return g_have_key && pthread_setspecific(g_thread_key, state) == 0;
}

bool HaveThreadKey() {
  return g_have_key;
}

uint64_t ServedFromLiveSlices() {
  bool (*const started_up)() = g_started_up.load(std::memory_order_acquire);
  if (started_up == nullptr || !started_up()) return 0;
  return LiveServedBytes() + LiveHotServedBytes();
}

uint32_t NewThreadTag() {
  Count(g_counters.threads_seen);
  uint32_t tag;
  do tag = g_next_tag.fetch_add(1, std::memory_order_relaxed) + 1;
  while (tag == 0 || tag == kRetiringTag || tag == kStaleTag);
  return tag;
}

const char *SourceDescription() {
  return g_source_description;
}

bool SourceIsTestDouble() {
  return g_test_ops != nullptr;
}

void SetKernelOpsForTesting(const kernel::KernelOps *ops) {
  g_test_ops = ops;
}

}  // namespace grndpool
