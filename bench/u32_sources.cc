// SPDX-License-Identifier: Apache-2.0
#include "u32_sources.h"

#include <x86intrin.h>

#include <algorithm>
#include <cstdlib>

#include "emu_paths.h"
#include "grndpool/grndpool.h"
#include "kernel_paths.h"
#include "peers.h"
#include "proto_tls_buffer.h"

namespace grndpool_bench {
namespace {

// The vDSO getrandom of the first thread that draws from it (its opaque state
// is that thread's); u32_rounds draws from it on the main thread only.
VdsoGetrandom &Vdso() {
  static VdsoGetrandom vdso;
  return vdso;
}
bool VdsoAvailable(std::string *why) {
  if (Vdso().available()) return true;
  *why = "no vDSO getrandom on this kernel";
  return false;
}
uint32_t VdsoU32() {
  uint32_t v;
  Vdso().Fill(&v, sizeof v);
  return v;
}
uint32_t GlibcArc4random() {
  return arc4random();
}
uint32_t Proto16B() {
  uint32_t v[4];
  ProtoBuf16k(v, sizeof v);
  return v[0] ^ v[3];
}
// 16 KiB of keystream per call: kKeystreamLimitCallBytes / 4 u32 draws.
uint32_t KeystreamLimit() {
  KeystreamLimitCall(nullptr, 0);
  return 0;
}
[[gnu::noinline]] uint32_t EmptyCall() {
  __asm__ volatile("");
  return 0;
}

// Each loop is a template on the draw, so a source pays one call per draw,
// like grndpool_u32(); an inline draw pays none, which is the point of
// measuring it.
template <uint32_t (*kDraw)()>
[[gnu::noinline]] uint32_t DriveLoop(uint64_t n) {
  uint32_t acc = 0;
  for (uint64_t i = 0; i < n; ++i) acc ^= kDraw();
  return acc;
}

template <uint32_t (*kDraw)()>
void TimeEach(uint64_t samples, std::vector<uint64_t> *hist, uint64_t *max) {
  uint32_t acc = 0;
  unsigned aux;
  uint64_t *h = hist->data();
  uint64_t top = *max;
  for (uint64_t i = 0; i < samples; ++i) {
    const uint64_t t0 = __rdtscp(&aux);
    _mm_lfence();
    acc ^= kDraw();
    const uint64_t t1 = __rdtscp(&aux);
    _mm_lfence();
    const uint64_t d = t1 - t0;
    top = std::max(top, d);
    ++h[std::min<uint64_t>(d, kHistBuckets - 1)];
  }
  *max = top;
  __asm__ volatile("" : : "r"(acc));
}

struct Shape {
  size_t bytes_per_draw = 4;
  double draws_per_call = 1;
  const char *refill_fn = nullptr;
  unsigned u32_per_refill = 0;
  bool (*available)(std::string *why) = nullptr;
};

template <uint32_t (*kDraw)()>
U32Source Row(const char *name, const char *kind, unsigned in, Shape s = {}) {
  return {name,
          kind,
          kDraw,
          DriveLoop<kDraw>,
          TimeEach<kDraw>,
          s.bytes_per_draw,
          s.draws_per_call,
          in,
          s.refill_fn,
          s.u32_per_refill,
          s.available};
}

constexpr const char *kSlowDraw = "grndpool::SlowDraw";
constexpr const char *kRustRefill = "rand_chacha::guts::refill_wide";
constexpr const char *kProto1kRefill = "grndpool_bench::ProtoRefillDraw1k()";
constexpr const char *kProto16kRefill = "grndpool_bench::ProtoRefillDraw16k()";
constexpr unsigned kMeasured = kRounds | kTail;

}  // namespace

const std::vector<U32Source> &U32Sources() {
  static const std::vector<U32Source> rows = {
      // grndpool_u32() as a C or C++ caller gets it (the header's inline draw),
      // and the exported function through the PLT (what FFI and dlsym callers pay).
      Row<GrndpoolU32Inline>("grndpool_u32", "grndpool",
                             kMeasured | kScaling | kCallgrindEmu | kCallgrindPerDraw,
                             {.refill_fn = kSlowDraw}),
      Row<grndpool_u32_outline>("grndpool_u32-call", "grndpool",
                                kMeasured | kCallgrind | kCallgrindEmu | kCallgrindPerDraw,
                                {.refill_fn = kSlowDraw}),
      // The per-draw lane's baselines (issue 17): the model's GRND_TIMESTAMP vDSO
      // branch called directly, and the seed's 4 KiB pool checking it per draw.
      Row<EmuVdsoBranchCall>("vdso-branch", "limit", kCallgrindPerDraw),
      Row<SeedPoolEmuU32>("seed-pool", "peer", kCallgrindPerDraw),
      Row<RustThreadRngU32>(
          "rust-threadrng", "peer", kMeasured | kCallgrind,
          {.refill_fn = kRustRefill, .u32_per_refill = 64, .available = RustPeersBuilt}),
      Row<RustThreadRngHeldU32>(
          "rust-threadrng-held", "peer", kMeasured | kScaling | kCallgrind,
          {.refill_fn = kRustRefill, .u32_per_refill = 64, .available = RustPeersBuilt}),
      Row<VdsoU32>("vdso-getrandom-4B", "peer", kMeasured, {.available = VdsoAvailable}),
      Row<GlibcArc4random>("glibc-arc4random", "peer", kRounds),
      Row<KeystreamLimit>(
          "keystream-limit", "limit", kRounds | kScaling | kCallgrind,
          {.draws_per_call = kKeystreamLimitCallBytes / sizeof(uint32_t), .u32_per_refill = 4096}),
      Row<Grndpool16B>("grndpool_buf-16B", "grndpool", kRounds | kCallgrindEmu,
                       {.bytes_per_draw = 16, .refill_fn = kSlowDraw}),
      Row<Grndpool4KiB>("grndpool_buf-4KiB", "grndpool", kRounds | kCallgrindEmu,
                        {.bytes_per_draw = 4096, .refill_fn = kSlowDraw}),
      Row<ProtoU32Call1k>("proto-1k-call", "prototype", kMeasured | kCallgrind,
                          {.refill_fn = kProto1kRefill, .u32_per_refill = 256}),
      Row<ProtoU32Call16k>("proto-16k-call", "prototype", kMeasured | kScaling | kCallgrind,
                           {.refill_fn = kProto16kRefill, .u32_per_refill = 4096}),
      Row<ProtoU32Inline16k>("proto-16k-inline", "prototype", kMeasured | kCallgrind,
                             {.refill_fn = kProto16kRefill, .u32_per_refill = 4096}),
      Row<Proto16B>("proto-16k-call-16B", "prototype", kRounds, {.bytes_per_draw = 16}),
      // The parts of a refill, per call (bytes = key or keystream bytes per call).
      Row<ProtoRekeyOnly>("part-evp-rekey", "anatomy", kRounds, {.bytes_per_draw = 32}),
      Row<ProtoKeystream1056>("part-keystream-1056B", "anatomy", kRounds, {.bytes_per_draw = 1056}),
      Row<ProtoKeystream16416>("part-keystream-16416B", "anatomy", kRounds,
                               {.bytes_per_draw = 16416}),
      // The empty call: the floor of the tail.
      Row<EmptyCall>("timer", "timer", kTail),
  };
  return rows;
}

}  // namespace grndpool_bench
