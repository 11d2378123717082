// SPDX-License-Identifier: Apache-2.0
#include "lib/runtime.h"

#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "lib/fork.h"
#include "lib/kernel/source.h"
#include "lib/kernel/syscall.h"
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

void PrintLine(const char *line) {
  fprintf(stderr, "%s\n", line);
}

void PrintStatsAtExit() {
  PrintCounters(2, ServedFromLiveSlices());
}

// The reseed window in force, in words, for Describe().
const char *Window() {
  switch (g_process.kernel->mode) {
    case kernel::GenerationMode::kPerDraw:
      return "0 bytes once the kernel has reseeded (GRND_TIMESTAMP checked every draw; a "
             "cloned VM repeats until its kernel handles the clone)";
    case kernel::GenerationMode::kPerRefill: {
      const uint64_t unknown = g_counters.generation_unknown.load(std::memory_order_relaxed);
      if (unknown == 0)
        return "<= 1 slice per thread, no time bound (generation read at every refill)";
      return unknown >= g_counters.refills.load(std::memory_order_relaxed)
                 ? "<= 1 slice per thread, no time bound (generation unreadable at every "
                   "refill: each took a fresh kernel key)"
                 : "<= 1 slice per thread, no time bound (generation unreadable at some "
                   "refills: those took a fresh kernel key)";
    }
    case kernel::GenerationMode::kUnknown:
      break;
  }
  return "<= 1 slice per thread, no time bound (generation unknown: every refill takes a "
         "fresh kernel key)";
}

const char *Locked(uint64_t locked, uint64_t droppable, uint64_t mapped) {
  if (mapped == 0) return "not-yet";
  if (locked == mapped) return "yes";
  if (droppable == mapped) return "no (MAP_DROPPABLE: never swapped)";
  if (locked + droppable == mapped) return "partly (the rest MAP_DROPPABLE)";
  if (locked == 0 && droppable == 0) return "no (unlocked, left out of core dumps)";
  return "partly (the rest unlocked, left out of core dumps)";
}

}  // namespace

Process &InitRuntime(void (*thread_exit)(void *)) {
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
  return LiveServedBytes() + LiveHotServedBytes();
}

uint32_t NewThreadTag() {
  Count(g_counters.threads_seen);
  uint32_t tag;
  do tag = g_next_tag.fetch_add(1, std::memory_order_relaxed) + 1;
  while (tag == 0 || tag == kRetiringTag || tag == kStaleTag);
  return tag;
}

// "16384B", "off", or "16384B(no-new:mlock-failed)".
std::string HotSlices() {
  const size_t bytes = g_process.geometry.hot_slice_bytes;
  if (bytes == 0) return "off";
  return std::to_string(bytes) + "B" + (HotSlicesMayGrow() ? "" : "(no-new:mlock-failed)");
}

std::string Describe() {
  struct rlimit limit {};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  const uint64_t locked = g_counters.locked_bytes.load();
  const uint64_t droppable = g_counters.droppable_bytes.load();
  const uint64_t mapped = g_counters.slab_bytes.load();
  const char *mode = !g_have_key            ? " kernel-only=(no pthread key left)"
                     : !fork::CanaryWorks() ? " kernel-only=(no working MADV_WIPEONFORK)"
                     : g_counters.mmap_failures.load() > 0
                         ? " mmap-failures=(some draws went to the kernel)"
                         : "";
  const char *urandom = kernel::g_urandom_fills.load(std::memory_order_relaxed) > 0
                            ? " fallback=/dev/urandom (getrandom failed or was denied)"
                            : "";
  char line[1024];
  snprintf(line, sizeof line,
           "grndpool strategy=%s source=%s refill=%s slab=%zuB slice=%zuB hot-slice=%s rekey=%lluB "
           "window=%s locked=%s (%llu of %llu mapped bytes locked, RLIMIT_MEMLOCK=%lld)%s%s",
           StrategyName(g_process.options.strategy), g_source_description,
           RefillName(g_process.options.refill), g_process.options.slab_bytes,
           g_process.options.slice_bytes, HotSlices().c_str(),
           static_cast<unsigned long long>(g_process.options.rekey_bytes), Window(),
           Locked(locked, droppable, mapped), static_cast<unsigned long long>(locked),
           static_cast<unsigned long long>(mapped),
           limit.rlim_cur == RLIM_INFINITY ? -1LL : static_cast<long long>(limit.rlim_cur), mode,
           urandom);
  return line;
}

void SetKernelOpsForTesting(const kernel::KernelOps *ops) {
  g_test_ops = ops;
}

}  // namespace grndpool
