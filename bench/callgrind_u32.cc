// SPDX-License-Identifier: Apache-2.0
// callgrind_u32: draws N u32 from one source in a loop of its own, for
// valgrind --tool=callgrind (bench/where_time_goes.sh). The loop function is
// named DriveLoop<...> so --toggle-collect='*DriveLoop*' counts exactly the N
// draws (refills included) and not the set-up: one warm-up draw before it
// takes the thread's first-draw work out of the count.
//
//   callgrind_u32 SOURCE [N [THREADS]]   SOURCE: grndpool_u32 grndpool_u32-emu
//   grndpool_u32-inline-emu
//                              grndpool_buf-16B-emu grndpool_buf-4KiB-emu rust-threadrng
//                              rust-threadrng-held keystream-limit proto-1k-call
//                              proto-16k-call proto-16k-inline
//                              grndpool_u32-inline-perdraw-emu grndpool_u32-perdraw-emu
//                              grndpool_u32-inline-perdraw-nolane-emu
//                              vdso-branch-perdraw-emu seed-pool-perdraw-emu
//                                                                (N default 1048576)
// N counts u32 worth of output (4 bytes); a 16 B draw is 4 of them.
// THREADS (default 1): N is shared out over that many threads, started
// together; each makes kWarmUpU32 draws before its DriveLoop (so its first
// draw, its slice claim and its move to a hot slice, if it gets one, are not
// counted), then all start their loops together. valgrind runs them one at a
// time, switching between them, so a refill can be cut by another thread
// (as on 2 cores with 1024 threads). No thread exits before all have
// finished their loops, so no slice is handed on meanwhile.
// grndpool_u32 and grndpool_u32-emu call the exported function;
// grndpool_u32-inline-emu is the public header's inline draw in the loop.
//
// Valgrind does not offer the vDSO getrandom, so under it grndpool falls back to
// the syscall source, whose generation is unknown: every refill rekeys from the
// kernel. The -emu sources install the userspace kernel model (tests/emu/) with
// the generation read at every refill instead, which is what the vDSO source
// does natively (a load from the vDSO state), so their profile is the native one.
// The -perdraw-emu sources install it in per-draw mode instead (GRND_TIMESTAMP
// in the vDSO, as on a patched kernel; bench/emu_paths.h): grndpool_u32 through
// the inline lane (issue 17), the exported function, the lane left unpublished
// (-nolane: every draw out of line), the model's vDSO branch called directly,
// and the seed's pool checking that branch before every draw.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "emu_paths.h"
#include "grndpool/grndpool.h"
#include "peers.h"
#include "proto_tls_buffer.h"
#include "lib/runtime.h"

#include "tests/emu/emu.h"

namespace grndpool_bench {
namespace {

uint32_t KeystreamLimit() {
  KeystreamLimitCall(nullptr, 0);
  return 0;
}

template <uint32_t (*kDraw)()>
[[gnu::noinline]] uint32_t DriveLoop(uint64_t n) {
  uint32_t acc = 0;
  for (uint64_t i = 0; i < n; ++i) acc ^= kDraw();
  return acc;
}

struct Entry {
  const char *name;
  uint32_t (*draw)();
  uint32_t (*loop)(uint64_t);
  uint64_t u32_per_call;
};

template <uint32_t (*kDraw)()>
constexpr Entry E(const char *name, uint64_t u32_per_call = 1) {
  return {name, kDraw, DriveLoop<kDraw>, u32_per_call};
}

const Entry kEntries[] = {
    E<grndpool_u32_outline>("grndpool_u32"),
    E<grndpool_u32_outline>("grndpool_u32-emu"),
    E<GrndpoolU32Inline>("grndpool_u32-inline-emu"),
    E<Grndpool16B>("grndpool_buf-16B-emu", 4),
    E<Grndpool4KiB>("grndpool_buf-4KiB-emu", 1024),
    E<RustThreadRngU32>("rust-threadrng"),
    E<RustThreadRngHeldU32>("rust-threadrng-held"),
    E<KeystreamLimit>("keystream-limit", kKeystreamLimitCallBytes / sizeof(uint32_t)),
    E<ProtoU32Call1k>("proto-1k-call"),
    E<ProtoU32Call16k>("proto-16k-call"),
    E<ProtoU32Inline16k>("proto-16k-inline"),
    E<GrndpoolU32Inline>("grndpool_u32-inline-perdraw-emu"),
    E<grndpool_u32_outline>("grndpool_u32-perdraw-emu"),
    E<GrndpoolU32Inline>("grndpool_u32-inline-perdraw-nolane-emu"),
    E<EmuVdsoBranchCall>("vdso-branch-perdraw-emu"),
    E<SeedPoolEmuU32>("seed-pool-perdraw-emu"),
};

// Enough refills of a 1 KiB slice for a thread to ask for a hot slice.
constexpr uint64_t kWarmUpU32 = 16 * 256;

// THREADS threads, each warm, then each runs e.loop(calls) at once; *before is
// read once all are warm.
uint32_t RunThreads(const Entry &e, uint64_t calls, int threads, struct grndpool_stats *before) {
  std::atomic<int> warm{0};
  std::atomic<bool> go{false};
  std::atomic<int> finished{0};
  std::atomic<uint32_t> acc{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      uint32_t a = 0;
      for (uint64_t k = 0; k < kWarmUpU32 / e.u32_per_call + 1; ++k) a ^= e.draw();
      warm.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      acc.fetch_xor(a ^ e.loop(calls));
      // No thread exits (and gives its slice back) before all are done: the
      // steady state of N live threads, not N threads finishing one by one.
      finished.fetch_add(1);
      while (finished.load() != threads) std::this_thread::yield();
    });
  }
  while (warm.load() != threads) std::this_thread::yield();
  grndpool_get_stats(before);
  go.store(true);
  for (std::thread &t : pool) t.join();
  return acc.load();
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  using grndpool_bench::kEntries;
  const uint64_t n = argc > 2 ? strtoull(argv[2], nullptr, 0) : 1048576;
  const int threads = argc > 3 ? std::max(1, atoi(argv[3])) : 1;
  for (const auto &e : kEntries) {
    if (argc < 2 || strcmp(argv[1], e.name) != 0) continue;
    std::string why;
    if (strncmp(e.name, "rust", 4) == 0 && !grndpool_bench::RustPeersBuilt(&why)) {
      fprintf(stderr, "callgrind_u32: %s: %s\n", e.name, why.c_str());
      return 1;
    }
    if (strstr(e.name, "-perdraw") != nullptr)
      grndpool_bench::InstallPerDrawEmu(strstr(e.name, "-nolane") == nullptr);
    else if (strstr(e.name, "-emu") != nullptr)
      grndpool::SetKernelOpsForTesting(grndpool::emu::Ops(
          {.tagged = false, .mode = grndpool::kernel::GenerationMode::kPerRefill}));
    printf("%s\n", grndpool_describe());  // the library's start-up, outside the loop
    const uint32_t warm = threads == 1 ? e.draw() : 0;
    const uint64_t per_thread = (n + e.u32_per_call * threads - 1) / (e.u32_per_call * threads);
    const uint64_t calls = per_thread * threads;
    struct grndpool_stats before = {}, after = {};  // zeroed: a size field of 0 asks for all
    grndpool_get_stats(&before);
    const uint32_t acc =
        threads == 1 ? e.loop(calls) : grndpool_bench::RunThreads(e, per_thread, threads, &before);
    grndpool_get_stats(&after);
    // grndpool's refills and rekeys inside the loop (zero for the other sources).
    printf("%s: calls=%llu u32=%llu grndpool_refills=%llu grndpool_rekeys=%llu (%08x)\n", e.name,
           static_cast<unsigned long long>(calls),
           static_cast<unsigned long long>(calls * e.u32_per_call),
           static_cast<unsigned long long>(after.refills - before.refills),
           static_cast<unsigned long long>(after.rekeys - before.rekeys), acc ^ warm);
    return 0;
  }
  fprintf(stderr, "usage: %s SOURCE [N [THREADS]]; SOURCE one of:", argv[0]);
  for (const auto &e : kEntries) fprintf(stderr, " %s", e.name);
  fprintf(stderr, "\n");
  return 2;
}
