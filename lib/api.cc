// SPDX-License-Identifier: Apache-2.0
// The C ABI: thin wrappers over the fast path.
#include "grndpool/grndpool.h"

#include <cstring>
#include <string>

#include "lib/describe.h"
#include "lib/fast_path.h"
#include "lib/runtime.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace {

// Describe tells what is in force, so it draws first: start-up (which may be
// running in another thread: this waits for it), this thread's slice, a fill
// through the kernel path and the slab's locking have then all happened. The
// byte is wiped. Returns nullptr, or why start-up did not finish (draws then
// go to the kernel).
const char *DrawForDescribe() {
  if (!grndpool::EnsureInitialized()) {
    return grndpool::StartUpCutByFork()
               ? "(this process was forked while another thread ran start-up: every draw "
                 "goes to the kernel)"
               : "(start-up is running on this thread: a signal handler interrupted it; its "
                 "draws go to the kernel)";
  }
  unsigned char byte;
  grndpool::Draw<false>(&byte, 1);
  explicit_bzero(&byte, 1);
  return nullptr;
}

}  // namespace

extern "C" {

uint32_t grndpool_u32(void) {
  return grndpool::DrawWord<uint32_t>();
}

uint64_t grndpool_u64(void) {
  return grndpool::DrawWord<uint64_t>();
}

// Token and key sizes get a fast path whose copy size is known when it is
// compiled (a few moves instead of memcpy and memset calls).
void grndpool_buf(void *buf, size_t n) {
  switch (n) {
    case 0:
      return;
    case 8:
      return grndpool::Draw<false>(buf, 8);
    case 16:
      return grndpool::Draw<false>(buf, 16);
    case 32:
      return grndpool::Draw<false>(buf, 32);
    default:
      return grndpool::Draw<false>(buf, n);
  }
}

// The same functions under the names the header's inline draws call.
uint32_t grndpool_u32_outline(void) __attribute__((alias("grndpool_u32")));
uint64_t grndpool_u64_outline(void) __attribute__((alias("grndpool_u64")));
void grndpool_buf_outline(void *buf, size_t n) __attribute__((alias("grndpool_buf")));

// Lemire's multiply-shift with rejection: unbiased, one division only when the
// low word lands in the small rejection zone.
uint32_t grndpool_uniform(uint32_t upper_bound) {
  if (upper_bound < 2) return 0;
  uint64_t m = static_cast<uint64_t>(grndpool::DrawWord<uint32_t>()) * upper_bound;
  uint32_t low = static_cast<uint32_t>(m);
  if (low < upper_bound) {
    const uint32_t threshold = -upper_bound % upper_bound;
    while (low < threshold) {
      m = static_cast<uint64_t>(grndpool::DrawWord<uint32_t>()) * upper_bound;
      low = static_cast<uint32_t>(m);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

void grndpool_get_stats(struct grndpool_stats *out) {
  grndpool::SnapshotCounters(out, grndpool::ServedFromLiveSlices());
}

// The name before 0.3, for C programs (the header declares it for C only).
GRNDPOOL_API void grndpool_stats(struct grndpool_stats *out)
    __attribute__((alias("grndpool_get_stats")));

const char *grndpool_describe(void) {
  static thread_local std::string line;
  line = grndpool::DescribeLine(grndpool::DescribeFields(DrawForDescribe()));
  return line.c_str();
}

const char *grndpool_describe_json(void) {
  static thread_local std::string json;
  json = grndpool::DescribeJson(grndpool::DescribeFields(DrawForDescribe()));
  return json.c_str();
}

}  // extern "C"
