// SPDX-License-Identifier: Apache-2.0
// dead_stack_probe: does a word draw leave the word it serves in the dead
// stack below its caller? Draws 1000 words, and after each scans the 16 KiB
// below the caller's frame for it. Positive control first: a callee that
// leaves the word in its own frame (a volatile local) must be found every
// time. KIND: u64 (the exported grndpool_u64(), what the header's inline
// draw calls on a miss, and every draw under GRNDPOOL_STRATEGY=per-cpu),
// buf8 or buf4 (grndpool_buf of 8 or 4 bytes); overflow-KIND draws on a
// thread past the slab budget (300 threads hold a slice each first; the
// budget must hold fewer slices than that at its smallest, 256 B, plus its
// hot slices: 242 at 64 KiB), and fails unless the reservoir served it
// (its reservoir_draws) or, with "shared" as the third argument, the shared
// overflow slices did.
//
//   dead_stack_probe MAX_HITS [KIND [shared]]  (exit 0 when at most MAX_HITS of 1000 are found)
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/stats_util.h"

namespace {

using grndpool::test::Stats;

// The word, masked, so this program's own copy cannot be what the scan finds.
constexpr uint64_t kMask = 0x5a5a5a5a5a5a5a5aull;
volatile uint64_t g_masked;

// The control's callee: leaves the word in its frame, as a spill would.
[[gnu::noinline]] uint64_t LeaveOnStack(uint64_t v) {
  volatile uint64_t spill = v;
  return spill + 0;
}

enum class Kind { kU64, kBuf8, kBuf4 };
Kind g_kind = Kind::kU64;

[[gnu::noinline]] uint64_t DrawWord() {
  if (g_kind == Kind::kU64) return grndpool_u64_outline();
  // The caller's buffer is its own copy: wiped here, so that what the scan
  // finds is what the library left.
  uint64_t v = 0;
  grndpool_buf(&v, g_kind == Kind::kBuf8 ? 8 : 4);
  uint64_t r = v;
  __asm__ volatile("" : "+r"(r));
  explicit_bzero(&v, sizeof v);
  return r;
}

[[gnu::noinline]] void DrawOne(bool control) {
  uint64_t v = DrawWord();
  if (control) v = LeaveOnStack(v);
  g_masked = v ^ kMask;
  __asm__ volatile("xor %0, %0" : "+r"(v));  // this frame's register copy
}

// Scans the dead stack below this frame, where DrawOne's callees ran (this
// frame sits where DrawOne's did: both are called from main).
[[gnu::noinline]] bool Found() {
  volatile uint64_t here[1] = {0};
  const volatile uint64_t *p = here;
  for (int i = 1; i < 2048; ++i)
    if ((p[-i] ^ kMask) == g_masked) return true;
  return false;
}

int Hits(bool control) {
  int hits = 0;
  for (int i = 0; i < 1000; ++i) {
    DrawOne(control);
    hits += Found();
  }
  return hits;
}

struct Result {
  int control = 0, hits = 0;
};

void *Probe(void *arg) {
  Result &r = *static_cast<Result *>(arg);
  for (int i = 0; i < 100; ++i) (void)DrawWord();  // start-up, warm buffers
  r.control = Hits(true);
  r.hits = Hits(false);
  return nullptr;
}

std::atomic<int> g_holding{0};
std::atomic<bool> g_release{false};
void *Hold(void *) {
  (void)grndpool_u32();  // a slice, kept until released
  g_holding.fetch_add(1);
  while (!g_release.load()) usleep(1000);
  return nullptr;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr,
            "usage: dead_stack_probe MAX_HITS "
            "[u64|buf8|buf4|overflow-u64|overflow-buf8|overflow-buf4 [shared]]\n");
    return 2;
  }
  const int max_hits = atoi(argv[1]);
  std::string kind = argc > 2 ? argv[2] : "u64";
  const bool overflow = kind.rfind("overflow-", 0) == 0;
  if (overflow) kind = kind.substr(9);
  if (kind == "u64") {
    g_kind = Kind::kU64;
  } else if (kind == "buf8") {
    g_kind = Kind::kBuf8;
  } else if (kind == "buf4") {
    g_kind = Kind::kBuf4;
  } else {
    fprintf(stderr, "dead_stack_probe: unknown kind '%s' (accepted: [overflow-]u64, buf8, buf4)\n",
            argv[2]);
    return 2;
  }
  Result r;
  const struct grndpool_stats before = Stats();
  std::vector<pthread_t> holders(overflow ? 300 : 0);
  for (pthread_t &h : holders) pthread_create(&h, nullptr, Hold, nullptr);
  while (g_holding.load() < static_cast<int>(holders.size())) usleep(1000);
  // On a thread of its own: its stack, scanned below its frame, and (for
  // overflow) a thread that found every slice held.
  pthread_t prober;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 20);
  pthread_create(&prober, &attr, Probe, &r);
  pthread_join(prober, nullptr);
  g_release.store(true);
  for (pthread_t &h : holders) pthread_join(h, nullptr);
  const struct grndpool_stats after = Stats();
  printf(
      "dead_stack_probe: %s%s: control found %d / 1000; drawn words left on the dead stack: %d / "
      "1000 (at most %d)\n",
      overflow ? "overflow-" : "", kind.c_str(), r.control, r.hits, max_hits);
  if (r.control < 990) {
    printf("dead_stack_probe: the scan does not see the callee's frame: it proves nothing\n");
    return 1;
  }
  if (overflow) {
    const bool shared = argc > 3 && strcmp(argv[3], "shared") == 0;
    const uint64_t reservoir = after.reservoir_draws - before.reservoir_draws;
    const uint64_t shared_draws = after.shared_draws - before.shared_draws;
    printf("dead_stack_probe: overflow draws: %llu from the reservoir, %llu from shared slices\n",
           (unsigned long long)reservoir, (unsigned long long)shared_draws);
    if ((shared ? shared_draws : reservoir) < 2000) {
      printf("dead_stack_probe: the draws did not take the %s path: it proves nothing\n",
             shared ? "shared overflow" : "reservoir");
      return 1;
    }
  }
  return r.hits <= max_hits ? 0 : 1;
}
