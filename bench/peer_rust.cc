// SPDX-License-Identifier: Apache-2.0
// Rust rand 0.8's ThreadRng, from the staticlib of bench/rust/ (C ABI). Every
// draw is one call into Rust, as every grndpool draw is one call into the
// library. Without the crate (GRNDPOOL_BENCH_HAVE_RUST unset) this file only
// says why it is absent.
#include <cstring>

#include "peers.h"

#if GRNDPOOL_BENCH_HAVE_RUST

extern "C" {
// Declared in bench/rust/src/lib.rs.
struct GrndpoolBenchRustRng;
uint32_t grndpool_bench_rust_random_u32();
uint64_t grndpool_bench_rust_random_u64();
void grndpool_bench_rust_thread_rng_fill(void *out, size_t len);
GrndpoolBenchRustRng *grndpool_bench_rust_held_new();
void grndpool_bench_rust_held_free(GrndpoolBenchRustRng *rng);
uint32_t grndpool_bench_rust_held_next_u32(GrndpoolBenchRustRng *rng);
uint64_t grndpool_bench_rust_held_next_u64(GrndpoolBenchRustRng *rng);
void grndpool_bench_rust_held_fill(GrndpoolBenchRustRng *rng, void *out, size_t len);
}

namespace grndpool_bench {
namespace {

// The held ThreadRng of this thread. Constant-initialised and trivially
// destructible, so each draw reads it with one %fs-relative load (as Rust code
// keeps `let mut rng = thread_rng();` in a register or on its stack).
thread_local constinit GrndpoolBenchRustRng *t_held = nullptr;

struct HeldReleaser {
  ~HeldReleaser() {
    grndpool_bench_rust_held_free(t_held);
    t_held = nullptr;
  }
};

[[gnu::noinline, gnu::cold]] GrndpoolBenchRustRng *NewHeld() {
  thread_local HeldReleaser releaser;  // frees the handle at thread exit
  (void)releaser;
  t_held = grndpool_bench_rust_held_new();
  return t_held;
}

inline GrndpoolBenchRustRng *Held() {
  GrndpoolBenchRustRng *rng = t_held;
  return __builtin_expect(rng != nullptr, 1) ? rng : NewHeld();
}

}  // namespace

bool RustPeersBuilt(std::string *) {
  return true;
}

uint32_t RustThreadRngU32() {
  return grndpool_bench_rust_random_u32();
}

uint32_t RustThreadRngHeldU32() {
  return grndpool_bench_rust_held_next_u32(Held());
}

uint32_t RustThreadRngHeld16B() {
  uint32_t v[4];
  grndpool_bench_rust_held_fill(Held(), v, sizeof v);
  return v[0] ^ v[3];
}

void RustThreadRngKeystreamCall() {
  alignas(64) thread_local unsigned char block[kKeystreamLimitCallBytes];
  grndpool_bench_rust_held_fill(Held(), block, sizeof block);
}

void RustThreadRngDraw(void *out, size_t n) {
  if (n == sizeof(uint32_t)) {
    const uint32_t v = grndpool_bench_rust_random_u32();
    memcpy(out, &v, sizeof v);
  } else if (n == sizeof(uint64_t)) {
    const uint64_t v = grndpool_bench_rust_random_u64();
    memcpy(out, &v, sizeof v);
  } else {
    grndpool_bench_rust_thread_rng_fill(out, n);
  }
}

void RustThreadRngHeldDraw(void *out, size_t n) {
  GrndpoolBenchRustRng *rng = Held();
  if (n == sizeof(uint32_t)) {
    const uint32_t v = grndpool_bench_rust_held_next_u32(rng);
    memcpy(out, &v, sizeof v);
  } else if (n == sizeof(uint64_t)) {
    const uint64_t v = grndpool_bench_rust_held_next_u64(rng);
    memcpy(out, &v, sizeof v);
  } else {
    grndpool_bench_rust_held_fill(rng, out, n);
  }
}

}  // namespace grndpool_bench

#else  // !GRNDPOOL_BENCH_HAVE_RUST

#include <cstdlib>

namespace grndpool_bench {

bool RustPeersBuilt(std::string *why) {
  *why = GRNDPOOL_BENCH_RUST_ABSENT;  // set by bench/CMakeLists.txt
  return false;
}

// Unreachable: callers check RustPeersBuilt first.
uint32_t RustThreadRngU32() {
  abort();
}
uint32_t RustThreadRngHeldU32() {
  abort();
}
uint32_t RustThreadRngHeld16B() {
  abort();
}
void RustThreadRngKeystreamCall() {
  abort();
}
void RustThreadRngDraw(void *, size_t) {
  abort();
}
void RustThreadRngHeldDraw(void *, size_t) {
  abort();
}

}  // namespace grndpool_bench

#endif  // GRNDPOOL_BENCH_HAVE_RUST
