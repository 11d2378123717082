// SPDX-License-Identifier: Apache-2.0
// seed_table: the table of the seed's cover letter
// (rfc-grnd-timestamp-cover-letter.txt), measured on this machine in the same
// format, then the same row for grndpool's slab and each row's speed-up over
// the direct syscall. No dlopen, so it links statically (seed_table_static)
// and runs inside the QEMU guest of kernel/.
//
//   seed_table [--count N]     N u32 per row (default 16777216, as the seed)
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "kernel_paths.h"
#include "seed_pool.h"

#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

struct Row {
  std::string label;
  double ns_per_u32;
};

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string NoNote() {
  return "";
}

// Draws n u32 through `next` and prints one row in the seed's format. `note`
// is called after the timed loop (so it can report what the loop discarded);
// a non-empty note is appended in parentheses, as the seed does.
template <class Next, class Note = std::string (*)()>
Row Measure(const std::string &label, uint64_t n, Next next, Note note = NoNote) {
  uint32_t acc = 0;
  const double t0 = Now();
  for (uint64_t i = 0; i < n; ++i) acc ^= next();
  const double seconds = Now() - t0;
  __asm__ volatile("" : : "r"(acc));  // the draws must not be optimised away
  const double ns = seconds * 1e9 / static_cast<double>(n);
  printf("== %s, %llu u32, %.9f s, %.3f M u32/s, %.3f ns/u32", label.c_str(),
         static_cast<unsigned long long>(n), seconds, static_cast<double>(n) / seconds / 1e6, ns);
  const std::string note_after = note();
  printf(note_after.empty() ? "\n" : ", (%s)\n", note_after.c_str());
  fflush(stdout);
  return {label, ns};
}

std::string DiscardNote(bool generation_known, uint64_t discarded) {
  if (!generation_known) return "generation: unknown on this kernel";
  return std::to_string(discarded) + " bytes discarded";
}

void VdsoFillThunk(void *ctx, void *out, size_t n) {
  static_cast<VdsoGetrandom *>(ctx)->Fill(out, n);
}
long VdsoTimestampThunk(void *ctx, uint64_t *cookie) {
  return static_cast<VdsoGetrandom *>(ctx)->Timestamp(cookie);
}
void SyscallFillThunk(void *, void *out, size_t n) {
  SyscallFill(out, n);
}
long SyscallTimestampThunk(void *, uint64_t *cookie) {
  return SyscallTimestamp(cookie);
}

int Run(uint64_t n) {
  // The seed's preamble.
  printf("getrandom(,,GRND_TIMESTAMP) test\n");
  const bool ts_syscall = TimestampSupported(SyscallTimestamp);
  printf("getrandom() %s GRND_TIMESTAMP\n", ts_syscall ? "support" : "does not support");
  VdsoGetrandom vdso;
  printf("%s\n", vdso.description().c_str());
  const bool ts_vdso =
      vdso.available() && TimestampSupported([&](uint64_t *c) { return vdso.Timestamp(c); });
  if (vdso.available())
    printf("vDSO getrandom() %s GRND_TIMESTAMP\n", ts_vdso ? "supports" : "does not support");
  // Initialises grndpool now, so its set-up is not timed in its row.
  printf("%s\n", grndpool_describe());
  fflush(stdout);

  std::vector<Row> rows;
  rows.push_back(Measure("direct syscall getrandom()", n, [] {
    uint32_t v;
    SyscallFill(&v, sizeof v);
    return v;
  }));
  if (vdso.available())
    rows.push_back(Measure("direct vDSO getrandom()", n, [&] {
      uint32_t v;
      vdso.Fill(&v, sizeof v);
      return v;
    }));

  {
    SeedPool pool(SyscallFillThunk, ts_syscall ? SyscallTimestampThunk : nullptr, nullptr);
    rows.push_back(Measure(
        "pooled syscall getrandom()", n, [&] { return pool.U32(); },
        [&] { return DiscardNote(ts_syscall, pool.discarded_bytes()); }));
    if (!pool.locked()) printf("   (mlock of the 4 KiB pool failed: ran unlocked)\n");
  }
  if (vdso.available()) {
    // The seed asks the vDSO for the generation on every draw; with a syscall
    // only GRND_TIMESTAMP, ask the syscall (that is what such a kernel offers).
    SeedPool::TimestampFn ts = ts_vdso      ? VdsoTimestampThunk
                               : ts_syscall ? SyscallTimestampThunk
                                            : nullptr;
    SeedPool pool(VdsoFillThunk, ts, &vdso);
    rows.push_back(Measure(
        "pooled vDSO getrandom()", n, [&] { return pool.U32(); },
        [&] { return DiscardNote(ts != nullptr, pool.discarded_bytes()); }));
  }

  // grndpool: the slab strategy, and the public API as an application calls it.
  struct grndpool_stats before = {}, after = {};  // zeroed: a size field of 0 asks for all
  grndpool_get_stats(&before);
  const grndpool::StrategyOps &slab = grndpool::StrategyFor(grndpool::Strategy::kSlab);
  rows.push_back(Measure("grndpool slab", n, [&] {
    uint32_t v;
    slab.draw(&v, sizeof v);
    return v;
  }));
  grndpool_get_stats(&after);
  printf("   (grndpool: %llu bytes discarded, %llu generation changes)\n",
         static_cast<unsigned long long>(after.bytes_discarded - before.bytes_discarded),
         static_cast<unsigned long long>(after.generation_changes - before.generation_changes));
  grndpool_get_stats(&before);
  rows.push_back(Measure("grndpool_u32() public API", n, [] { return grndpool_u32(); }));
  grndpool_get_stats(&after);
  printf("   (grndpool: %llu bytes discarded, %llu generation changes)\n",
         static_cast<unsigned long long>(after.bytes_discarded - before.bytes_discarded),
         static_cast<unsigned long long>(after.generation_changes - before.generation_changes));

  printf("== speed-up vs direct syscall getrandom() (its ns/u32 / the row's ns/u32)\n");
  for (const Row &r : rows)
    printf("   %-30s %8.2fx\n", r.label.c_str(), rows[0].ns_per_u32 / r.ns_per_u32);
  return 0;
}

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  uint64_t n = 16777216;  // the seed's count
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      n = strtoull(argv[++i], nullptr, 0);
    } else {
      fprintf(stderr, "usage: %s [--count N]\n", argv[0]);
      return 2;
    }
  }
  if (n == 0) n = 1;
  return grndpool_bench::Run(n);
}
