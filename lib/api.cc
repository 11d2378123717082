// The C ABI: thin wrappers over the fast path.
#include "grndpool/grndpool.h"

#include <cstring>
#include <string>

#include "fast_path.h"
#include "runtime.h"
#include "slice_directory.h"
#include "stats.h"

using grndpool::Draw;
using grndpool::g_counters;

extern "C" {

uint32_t grndpool_u32(void) {
  uint32_t v;
  Draw(&v, sizeof v);
  return v;
}

uint64_t grndpool_u64(void) {
  uint64_t v;
  Draw(&v, sizeof v);
  return v;
}

void grndpool_buf(void *buf, size_t n) {
  if (n > 0) Draw(buf, n);
}

// Lemire's multiply-shift with rejection: unbiased, one division only when the
// low word lands in the small rejection zone.
uint32_t grndpool_uniform(uint32_t upper_bound) {
  if (upper_bound < 2) return 0;
  uint64_t m = static_cast<uint64_t>(grndpool_u32()) * upper_bound;
  uint32_t low = static_cast<uint32_t>(m);
  if (low < upper_bound) {
    const uint32_t threshold = -upper_bound % upper_bound;
    while (low < threshold) {
      m = static_cast<uint64_t>(grndpool_u32()) * upper_bound;
      low = static_cast<uint32_t>(m);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

void grndpool_stats(struct grndpool_stats *out) {
  grndpool::EnsureInitialized();
  auto get = [](const std::atomic<uint64_t> &c) { return c.load(std::memory_order_relaxed); };
  memset(out, 0, sizeof *out);
  out->bytes_served = get(g_counters.bytes_served) + grndpool::LiveServedBytes();
  out->bytes_discarded = get(g_counters.bytes_discarded);
  out->refills = get(g_counters.refills);
  out->rekeys = get(g_counters.rekeys);
  out->generation_changes = get(g_counters.generation_changes);
  out->fork_resets = get(g_counters.fork_resets);
  out->mlock_failures = get(g_counters.mlock_failures);
  out->locked_bytes = get(g_counters.locked_bytes);
  out->slab_bytes = get(g_counters.slab_bytes);
  out->slices_in_use = get(g_counters.slices_in_use);
  out->shared_draws = get(g_counters.shared_draws);
  out->kernel_draws = get(g_counters.kernel_draws);
  out->threads_seen = get(g_counters.threads_seen);
}

const char *grndpool_describe(void) {
  static thread_local std::string line;
  line = grndpool::Describe();
  return line.c_str();
}

}  // extern "C"
