#include "runtime.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <urcu-bp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "fast_path.h"
#include "grndpool/grndpool.h"
#include "kernel/source.h"
#include "refill.h"
#include "shared_slices.h"
#include "slice_directory.h"
#include "stats.h"
#include "strategies/strategies.h"

namespace grndpool {

std::atomic<uint8_t> g_draw_flags{kNotInitialized};
const kernel::KernelOps *g_ops = nullptr;
Counters g_counters;

namespace {

pthread_once_t g_once = PTHREAD_ONCE_INIT;
pthread_key_t g_thread_key;
Options g_options;
std::string g_source_description;
const kernel::KernelOps *g_test_ops = nullptr;
std::atomic<uint64_t> g_last_generation{0};
std::atomic<uint32_t> g_next_tag{0};
// One page mapped MADV_WIPEONFORK holding a nonzero word: it reads zero in a
// child, which is how a child notices fork without a getpid() syscall.
std::atomic<uint32_t> *g_fork_canary = nullptr;

void PrintOptionError(const char *line) {
  fprintf(stderr, "%s\n", line);
}

void ThreadExit(void *) {
  ReleaseThread();
}

void BeforeFork() {
  StrategiesLockForFork();
  DirectoryLockForFork();
  kernel::KernelLockForFork();
  urcu_bp_before_fork();
}
void AfterForkParent() {
  urcu_bp_after_fork_parent();
  kernel::KernelUnlockAfterFork();
  DirectoryUnlockAfterFork();
  StrategiesUnlockAfterFork();
}
void ResetAfterForkLocked() {
  if (g_fork_canary->load(std::memory_order_relaxed) != 0) return;
  RelockAfterFork();
  Count(g_counters.fork_resets);
  g_fork_canary->store(1, std::memory_order_relaxed);
}

void AfterForkChild() {
  urcu_bp_after_fork_child();
  kernel::KernelUnlockAfterFork();
  // fork() through libc: reset now. A raw clone() skips these handlers; the
  // first draw in such a child finds the canary zero and resets then.
  ResetAfterForkLocked();
  DirectoryUnlockAfterFork();
  StrategiesUnlockAfterFork();
}

void PrintStatsAtExit() {
  struct grndpool_stats st;
  grndpool_stats(&st);
  fprintf(stderr,
          "grndpool stats: bytes_served=%llu bytes_discarded=%llu refills=%llu rekeys=%llu "
          "generation_changes=%llu fork_resets=%llu mlock_failures=%llu locked_bytes=%llu "
          "slab_bytes=%llu slices_in_use=%llu shared_draws=%llu kernel_draws=%llu "
          "threads_seen=%llu\n",
          (unsigned long long)st.bytes_served, (unsigned long long)st.bytes_discarded,
          (unsigned long long)st.refills, (unsigned long long)st.rekeys,
          (unsigned long long)st.generation_changes, (unsigned long long)st.fork_resets,
          (unsigned long long)st.mlock_failures, (unsigned long long)st.locked_bytes,
          (unsigned long long)st.slab_bytes, (unsigned long long)st.slices_in_use,
          (unsigned long long)st.shared_draws, (unsigned long long)st.kernel_draws,
          (unsigned long long)st.threads_seen);
}

// Where the kernel lacks MADV_WIPEONFORK (< 4.14) the slab cannot be mapped
// either, so every draw goes to the kernel; the canary then falls back to a
// static word that never reads zero.
void MapForkCanary() {
  static std::atomic<uint32_t> no_wipe_on_fork{1};
  const size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void *page = mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED && madvise(page, page_size, MADV_WIPEONFORK) == 0) {
    g_fork_canary = static_cast<std::atomic<uint32_t> *>(page);
    g_fork_canary->store(1, std::memory_order_relaxed);
  } else {
    if (page != MAP_FAILED) munmap(page, page_size);
    g_fork_canary = &no_wipe_on_fork;
  }
}

void Initialize() {
  g_options =
      ParseOptions([](const char *name) -> const char * { return getenv(name); }, PrintOptionError);
  if (g_test_ops != nullptr) {
    g_ops = g_test_ops;
    g_source_description = g_test_ops->name;
  } else {
    kernel::SelectedSource source = kernel::SelectSource(g_options.source);
    if (!source.note.empty()) PrintOptionError(source.note.c_str());
    g_ops = source.ops;
    g_source_description = source.description;
  }
  MapForkCanary();
  const SlabGeometry geometry = ComputeGeometry(g_options.slab_bytes, g_options.slice_bytes);
  InitSliceDirectory(geometry);
  InitRefill(RefillConfig{g_options.refill, g_options.rekey_bytes, g_ops});
  InitSharedSlices(g_ops, SliceCapacity());
  pthread_key_create(&g_thread_key, ThreadExit);
  pthread_atfork(BeforeFork, AfterForkParent, AfterForkChild);
  if (g_options.print_stats) atexit(PrintStatsAtExit);
  // Publish last: the fast path leaves the plain slab path only now.
  g_draw_flags.store(
      static_cast<uint8_t>((g_ops->mode == kernel::GenerationMode::kPerDraw ? kCheckEveryDraw : 0) |
                           (g_options.strategy != Strategy::kSlab ? kOtherStrategy : 0)),
      std::memory_order_release);
}

}  // namespace

void EnsureInitialized() {
  pthread_once(&g_once, Initialize);
}

void CheckForkInChild() {
  if (g_fork_canary->load(std::memory_order_relaxed) != 0) return;
  DirectoryLockForFork();
  ResetAfterForkLocked();
  DirectoryUnlockAfterFork();
}

uint32_t RegisterThread() {
  Count(g_counters.threads_seen);
  pthread_setspecific(g_thread_key, &t_thread);
  uint32_t tag;
  do tag = g_next_tag.fetch_add(1, std::memory_order_relaxed) + 1;
  while (tag == 0);
  return tag;
}

uint32_t SliceCapacity() {
  return static_cast<uint32_t>(g_options.slice_bytes - kSliceHeaderBytes);
}

void NoteGeneration(uint64_t generation) {
  uint64_t last = g_last_generation.load(std::memory_order_relaxed);
  while (last != generation) {
    if (g_last_generation.compare_exchange_weak(last, generation, std::memory_order_relaxed)) {
      // The first observation is the starting point, not a change.
      if (last != 0) Count(g_counters.generation_changes);
      return;
    }
  }
}

const Options &CurrentOptions() {
  return g_options;
}

std::string Describe() {
  EnsureInitialized();
  struct rlimit limit {};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  const uint64_t locked = g_counters.locked_bytes.load();
  const uint64_t mapped = g_counters.slab_bytes.load();
  char line[512];
  snprintf(line, sizeof line,
           "grndpool strategy=%s source=%s refill=%s slab=%zuB slice=%zuB rekey=%lluB "
           "locked=%s (%llu of %llu mapped bytes locked, RLIMIT_MEMLOCK=%lld)",
           StrategyName(g_options.strategy), g_source_description.c_str(),
           RefillName(g_options.refill), g_options.slab_bytes, g_options.slice_bytes,
           static_cast<unsigned long long>(g_options.rekey_bytes),
           mapped == 0 ? "not-yet" : (locked == mapped ? "yes" : "partly"),
           static_cast<unsigned long long>(locked), static_cast<unsigned long long>(mapped),
           limit.rlim_cur == RLIM_INFINITY ? -1LL : static_cast<long long>(limit.rlim_cur));
  return line;
}

void SetKernelOpsForTesting(const kernel::KernelOps *ops) {
  g_test_ops = ops;
}

}  // namespace grndpool
