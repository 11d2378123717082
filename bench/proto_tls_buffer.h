// SPDX-License-Identifier: Apache-2.0
// A bench-only prototype, not the library: the smallest thread-local buffer
// over the same libcrypto ChaCha20 keystream grndpool uses, to measure how close
// to the keystream a u32 draw can get once the per-draw bookkeeping is gone.
//
// Kept from grndpool: served bytes are zeroed, fast key erasure (each refill
// writes the next key ahead of the data, rekeys from it and wipes it), one
// cipher context per thread. Left out, so this is a floor, not a design: no
// locked or wipe-on-fork memory, no fork or generation check, no signal
// reentrancy guard, no slab budget, no stats.
//
// The fast path is the "static inline over an initial-exec TLS block" shape:
// one TLS load of `avail`, one compare, a load, a zeroing store, the cursor
// store. A zero `avail` also covers "not set up yet", so no global flag is read.
#pragma once

#include <cstdint>
#include <cstring>

namespace grndpool_bench {

struct ProtoThread {
  uint8_t *data;  // the thread's buffer; bytes at [avail, capacity) are served (zero)
  int32_t avail;  // bytes left; 0 before the first draw
};

// One TLS block per buffer size: 1 KiB (grndpool's slice size today) and
// 16 KiB (one keystream call per refill at libcrypto's best rate).
extern thread_local constinit ProtoThread t_proto_1k [[gnu::tls_model("initial-exec")]];
extern thread_local constinit ProtoThread t_proto_16k [[gnu::tls_model("initial-exec")]];

// Refill the thread's buffer (setting it up on the first call), then draw.
// Out of line: the fast path stays a few instructions.
[[gnu::noinline]] uint32_t ProtoRefillDraw1k();
[[gnu::noinline]] uint32_t ProtoRefillDraw16k();

template <uint32_t (*kRefillDraw)()>
inline uint32_t ProtoDraw(ProtoThread &t) {
  const int32_t left = t.avail - static_cast<int32_t>(sizeof(uint32_t));
  if (__builtin_expect(left < 0, 0)) return kRefillDraw();
  uint8_t *p = t.data + left;
  uint32_t v;
  memcpy(&v, p, sizeof v);
  memset(p, 0, sizeof v);
  t.avail = left;
  return v;
}

// n bytes (n <= 16 KiB) from the 16 KiB buffer, behind a call: the same
// pattern for buffers (copy, zero, move the cursor), refilling when short.
void ProtoBuf16k(void *out, size_t n);

// Inlined into the caller, as a static inline function in a public header would be.
inline uint32_t ProtoU32Inline16k() {
  return ProtoDraw<ProtoRefillDraw16k>(t_proto_16k);
}

// Behind one call per draw, as grndpool_u32() is today (proto_tls_buffer.cc).
uint32_t ProtoU32Call1k();
uint32_t ProtoU32Call16k();

// The parts of one refill on their own, on a thread-local context of their own,
// to time them natively (callgrind cannot: under valgrind libcrypto takes other
// code). Each returns a byte of its output so the call cannot be dropped.
// ProtoRekeyOnly: EVP_EncryptInit_ex with a new key (fast key erasure's step).
// ProtoKeystream1056: one 1056-byte keystream call (a 1 KiB slice refill today).
// ProtoKeystream16416: one 16416-byte call (16 KiB + the next key).
uint32_t ProtoRekeyOnly();
uint32_t ProtoKeystream1056();
uint32_t ProtoKeystream16416();

}  // namespace grndpool_bench
