// SPDX-License-Identifier: Apache-2.0
// The randomness libraries servers use today, each behind the same
// `void draw(void *out, size_t n)` shape as a grndpool strategy, so the
// benchmark can put them in one table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "grndpool/grndpool.h"
#include <vector>

namespace grndpool_bench {

struct Peer {
  std::string name;
  // Fills out with n random bytes. Thread-safe.
  void (*draw)(void *out, size_t n);
  // 0: one call is one draw of n bytes. Otherwise one call produces this many
  // bytes (into the peer's own buffer) and stands for bytes_per_call / n draws:
  // used by keystream-limit, which is the cost of bulk keystream, not a draw.
  size_t bytes_per_call = 0;
};

// Every peer that works in this process. A peer that cannot be loaded (libbsd
// missing, libsodium failing to initialise) is left out and one line saying why
// is appended to `skipped`.
std::vector<Peer> AvailablePeers(std::vector<std::string> *skipped);

// Individual peers, one file per concern.
// glibc >= 2.36 arc4random_buf (a getrandom-backed ChaCha20 per thread).
void GlibcArc4randomBuf(void *out, size_t n);
// libsodium randombytes_buf; call SodiumReady() once first (sodium_init).
bool SodiumReady();
void SodiumRandombytesBuf(void *out, size_t n);
// OpenSSL's default DRBG (RAND_bytes), which never fails once seeded.
void OpensslRandBytes(void *out, size_t n);
// libcrypto ChaCha20, one cipher context per thread keyed once from getrandom
// (peer_chacha20.cc). EvpChacha20PerDraw: one EVP_EncryptUpdate per draw into
// out. KeystreamLimitCall: one kKeystreamLimitCallBytes update into a
// thread-local buffer, ignoring its arguments; the floor of any ChaCha20 design
// built on libcrypto.
inline constexpr size_t kKeystreamLimitCallBytes = 16384;
void EvpChacha20PerDraw(void *out, size_t n);
void KeystreamLimitCall(void *out, size_t n);

// Rust rand 0.8 ThreadRng (bench/rust/, peer_rust.cc), one C call per draw.
// RustPeersBuilt is false (and *why says why) when CMake did not build the
// crate; the other functions must not be called then.
bool RustPeersBuilt(std::string *why);
// rand::random::<u32>() / ::<u64>() for 4 and 8 bytes, thread_rng().fill_bytes otherwise.
void RustThreadRngDraw(void *out, size_t n);
// The same on a ThreadRng held by the calling thread: next_u32, next_u64, fill_bytes.
void RustThreadRngHeldDraw(void *out, size_t n);
uint32_t RustThreadRngU32();
uint32_t RustThreadRngHeldU32();
// fill_bytes of 16 bytes on the held ThreadRng (a token), folded to a u32 so
// the loops that time it keep the result.
uint32_t RustThreadRngHeld16B();
// fill_bytes of kKeystreamLimitCallBytes on the held ThreadRng into a
// thread-local buffer: its ChaCha12 block function and buffer copy with no
// per-draw call around them, the floor ThreadRng's own draws stand on (the
// counterpart of KeystreamLimitCall).
void RustThreadRngKeystreamCall();
// libbsd arc4random_buf, looked up with dlopen because glibc exports the same
// name. Returns nullptr and sets *why when libbsd cannot be loaded.
using DrawFn = void (*)(void *, size_t);
DrawFn LoadLibbsdArc4randomBuf(std::string *why);

// grndpool_u32() as C and C++ callers get it: the public header's inline draw
// (the loops that time it are templates on this function, so it inlines there).
inline uint32_t GrndpoolU32Inline() {
  return grndpool_u32();
}

// grndpool_buf of 16 bytes and of 4 KiB, folded to a u32 so the loops that
// time them keep the result. The 16 B draw has a constant size, so it is the
// header's inline draw, as in a caller's code.
inline uint32_t Grndpool16B() {
  uint32_t v[4];
  grndpool_buf(v, sizeof v);
  return v[0] ^ v[3];
}
uint32_t Grndpool4KiB();

}  // namespace grndpool_bench
