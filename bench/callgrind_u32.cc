// SPDX-License-Identifier: Apache-2.0
// callgrind_u32: draws N u32 from one source in a loop of its own, for
// valgrind --tool=callgrind (bench/where_time_goes.py). The loop function is
// named DriveLoop<...> so --toggle-collect='*DriveLoop*' counts exactly the N
// draws (refills included) and not the set-up: one warm-up draw before it
// takes the thread's first-draw work out of the count.
//
//   callgrind_u32 SOURCE [N [THREADS]]   (N default 1048576)
//   callgrind_u32 --list
// SOURCE: a row of the u32 table (u32_sources.h) marked kCallgrind, by its
// name; marked kCallgrindEmu, by its name and "-emu" (the kernel model,
// per-refill); marked kCallgrindPerDraw, by its name and "-perdraw-emu" (the
// model's GRND_TIMESTAMP vDSO branch, checked per draw: issue 17's lane) or
// "-perdraw-nolane-emu" (the same with the lane's vDSO entry unpublished). --list prints them,
// one a line: SOURCE, the refill function's name ("-" for none) and u32 per
// refill (0: the program counts grndpool's refills), tab-separated, for
// where_time_goes.py.
// N counts u32 worth of output (4 bytes); a 16 B draw is 4 of them.
// THREADS (default 1): N is shared out over that many threads, started
// together; each makes kWarmUpU32 draws before its DriveLoop (so its first
// draw, its slice claim and its move to a hot slice, if it gets one, are not
// counted), then all start their loops together. valgrind runs them one at a
// time, switching between them, so a refill can be cut by another thread
// (as on 2 cores with 1024 threads). No thread exits before all have
// finished their loops, so no slice is handed on meanwhile.
// grndpool_u32-call and grndpool_u32-call-emu call the exported function;
// grndpool_u32-emu is the public header's inline draw in the loop.
//
// Valgrind does not offer the vDSO getrandom, so under it grndpool falls back to
// the syscall source, whose generation is unknown: every refill rekeys from the
// kernel. The -emu sources install the userspace kernel model (tests/emu/) with
// the generation read at every refill instead, which is what the vDSO source
// does natively (a load from the vDSO state), so their profile is the native one.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "emu_paths.h"
#include "lib/runtime.h"
#include "u32_sources.h"

#include "tests/emu/emu.h"

namespace grndpool_bench {
namespace {

// A source callgrind_u32 runs: a row of the u32 table, natively or behind the
// userspace kernel model.
enum class Kernel { kNative, kEmu, kPerDraw, kPerDrawNoLane };
struct Entry {
  std::string name;
  const U32Source *row;
  Kernel kernel;
};

std::vector<Entry> Entries() {
  std::vector<Entry> out;
  for (const U32Source &row : U32Sources()) {
    const std::string name = row.name;
    if (row.in & kCallgrind) out.push_back({name, &row, Kernel::kNative});
    if (row.in & kCallgrindEmu) out.push_back({name + "-emu", &row, Kernel::kEmu});
    if (row.in & kCallgrindPerDraw) {
      out.push_back({name + "-perdraw-emu", &row, Kernel::kPerDraw});
      if (strcmp(row.kind, "grndpool") == 0)
        out.push_back({name + "-perdraw-nolane-emu", &row, Kernel::kPerDrawNoLane});
    }
  }
  return out;
}

// Enough refills of a 1 KiB slice for a thread to ask for a hot slice.
constexpr uint64_t kWarmUpU32 = 16 * 256;

// THREADS threads, each warm, then each runs row.loop(calls) at once; *before
// is read once all are warm.
uint32_t RunThreads(const U32Source &row, uint64_t calls, int threads,
                    struct grndpool_stats *before) {
  std::atomic<int> warm{0};
  std::atomic<bool> go{false};
  std::atomic<int> finished{0};
  std::atomic<uint32_t> acc{0};
  const uint64_t warm_up = static_cast<uint64_t>(kWarmUpU32 / row.u32_per_call()) + 1;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      uint32_t a = 0;
      for (uint64_t k = 0; k < warm_up; ++k) a ^= row.draw();
      warm.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      acc.fetch_xor(a ^ row.loop(calls));
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

int Run(const Entry &e, uint64_t n, int threads) {
  const U32Source &row = *e.row;
  std::string why;
  if (row.available != nullptr && !row.available(&why)) {
    fprintf(stderr, "callgrind_u32: %s: %s\n", e.name.c_str(), why.c_str());
    return 1;
  }
  if (e.kernel == Kernel::kEmu)
    grndpool::SetKernelOpsForTesting(grndpool::emu::Ops(
        {.tagged = false, .mode = grndpool::kernel::GenerationMode::kPerRefill}));
  else if (e.kernel != Kernel::kNative)
    InstallPerDrawEmu(e.kernel == Kernel::kPerDraw);
  printf("%s\n", grndpool_describe());  // the library's start-up, outside the loop
  const uint32_t warm = threads == 1 ? row.draw() : 0;
  const auto u32_per_call = static_cast<uint64_t>(row.u32_per_call());
  const uint64_t per_thread = (n + u32_per_call * threads - 1) / (u32_per_call * threads);
  const uint64_t calls = per_thread * threads;
  struct grndpool_stats before = {}, after = {};  // zeroed: a size field of 0 asks for all
  grndpool_get_stats(&before);
  const uint32_t acc =
      threads == 1 ? row.loop(calls) : RunThreads(row, per_thread, threads, &before);
  grndpool_get_stats(&after);
  // grndpool's refills and rekeys inside the loop (zero for the other sources).
  printf("%s: calls=%llu u32=%llu grndpool_refills=%llu grndpool_rekeys=%llu (%08x)\n",
         e.name.c_str(), static_cast<unsigned long long>(calls),
         static_cast<unsigned long long>(calls * u32_per_call),
         static_cast<unsigned long long>(after.refills - before.refills),
         static_cast<unsigned long long>(after.rekeys - before.rekeys), acc ^ warm);
  return 0;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  const std::vector<grndpool_bench::Entry> entries = grndpool_bench::Entries();
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (const auto &e : entries)
      printf("%s\t%s\t%u\n", e.name.c_str(), e.row->refill_fn ? e.row->refill_fn : "-",
             e.row->u32_per_refill);
    return 0;
  }
  const uint64_t n = argc > 2 ? strtoull(argv[2], nullptr, 0) : 1048576;
  const int threads = argc > 3 ? std::max(1, atoi(argv[3])) : 1;
  for (const auto &e : entries)
    if (argc >= 2 && e.name == argv[1]) return grndpool_bench::Run(e, n, threads);
  fprintf(stderr, "usage: %s SOURCE [N [THREADS]] | --list; SOURCE one of:", argv[0]);
  for (const auto &e : entries) fprintf(stderr, " %s", e.name.c_str());
  fprintf(stderr, "\n");
  return 2;
}
