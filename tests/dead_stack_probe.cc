// SPDX-License-Identifier: Apache-2.0
// dead_stack_probe: does the exported grndpool_u64() (what the header's
// inline draw calls on a miss, and every draw under GRNDPOOL_STRATEGY=per-cpu)
// leave the word it returns in the dead stack below its caller? Draws 1000
// words through the call, and after each scans the 16 KiB below the caller's
// frame for it. Positive control first: a callee that leaves the word in its
// own frame (a volatile local) must be found every time.
//
//   dead_stack_probe MAX_HITS   (exit 0 when at most MAX_HITS of 1000 are found)
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "grndpool/grndpool.h"

namespace {

// The word, masked, so this program's own copy cannot be what the scan finds.
constexpr uint64_t kMask = 0x5a5a5a5a5a5a5a5aull;
volatile uint64_t g_masked;

// The control's callee: leaves the word in its frame, as a spill would.
[[gnu::noinline]] uint64_t LeaveOnStack(uint64_t v) {
  volatile uint64_t spill = v;
  return spill + 0;
}

[[gnu::noinline]] void DrawOne(bool control) {
  uint64_t v = grndpool_u64_outline();
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

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dead_stack_probe MAX_HITS\n");
    return 2;
  }
  const int max_hits = atoi(argv[1]);
  for (int i = 0; i < 100; ++i) (void)grndpool_u64_outline();  // start-up, warm buffers
  const int control = Hits(true);
  const int hits = Hits(false);
  printf(
      "dead_stack_probe: control found %d / 1000; drawn words left on the dead stack: %d / 1000 "
      "(at most %d)\n",
      control, hits, max_hits);
  if (control < 990) {
    printf("dead_stack_probe: the scan does not see the callee's frame: it proves nothing\n");
    return 1;
  }
  return hits <= max_hits ? 0 : 1;
}
