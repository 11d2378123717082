// SPDX-License-Identifier: Apache-2.0
#include "proto_tls_buffer.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace grndpool_bench {

thread_local constinit ProtoThread t_proto_1k [[gnu::tls_model("initial-exec")]] = {};
thread_local constinit ProtoThread t_proto_16k [[gnu::tls_model("initial-exec")]] = {};

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kMaxCapacity = 16384;
alignas(64) const uint8_t kZeros[kKeyBytes + kMaxCapacity] = {};
const uint8_t kZeroIv[16] = {};

[[noreturn]] void Die(const char *what) {
  fprintf(stderr, "proto_tls_buffer: %s failed\n", what);
  abort();
}

// Per buffer size and thread: the cipher and the allocation, whose first
// kKeyBytes are the key slot (contiguous with data, so a refill is one call).
struct ProtoCipher {
  EVP_CIPHER_CTX *ctx = nullptr;
  uint8_t *block = nullptr;
  ~ProtoCipher() {
    EVP_CIPHER_CTX_free(ctx);
    free(block);
  }
};

void Rekey(EVP_CIPHER_CTX *ctx, uint8_t *key) {
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, key, kZeroIv) != 1) Die("EVP_EncryptInit_ex");
  explicit_bzero(key, kKeyBytes);
}

// Writes [next key | capacity bytes] in one keystream call, rekeys from the key
// slot and wipes it, then serves the top u32 of the fresh buffer.
template <size_t kCapacity>
uint32_t RefillDraw(ProtoThread &t, ProtoCipher &c) {
  if (c.ctx == nullptr) {
    c.ctx = EVP_CIPHER_CTX_new();
    c.block = static_cast<uint8_t *>(aligned_alloc(64, kKeyBytes + kCapacity));
    if (c.ctx == nullptr || c.block == nullptr) Die("allocation");
    if (EVP_EncryptInit_ex(c.ctx, EVP_chacha20(), nullptr, nullptr, nullptr) != 1)
      Die("EVP_EncryptInit_ex");
    uint8_t key[kKeyBytes];
    if (getrandom(key, sizeof key, 0) != static_cast<ssize_t>(sizeof key)) Die("getrandom");
    Rekey(c.ctx, key);
    t.data = c.block + kKeyBytes;
  }
  int written = 0;
  if (EVP_EncryptUpdate(c.ctx, c.block, &written, kZeros, kKeyBytes + kCapacity) != 1)
    Die("EVP_EncryptUpdate");
  Rekey(c.ctx, c.block);
  const int32_t left = kCapacity - sizeof(uint32_t);
  uint32_t v;
  memcpy(&v, t.data + left, sizeof v);
  memset(t.data + left, 0, sizeof v);
  t.avail = left;
  return v;
}

}  // namespace

uint32_t ProtoRefillDraw1k() {
  thread_local ProtoCipher cipher;
  return RefillDraw<1024>(t_proto_1k, cipher);
}

uint32_t ProtoRefillDraw16k() {
  thread_local ProtoCipher cipher;
  return RefillDraw<kMaxCapacity>(t_proto_16k, cipher);
}

uint32_t ProtoU32Call1k() {
  return ProtoDraw<ProtoRefillDraw1k>(t_proto_1k);
}

uint32_t ProtoU32Call16k() {
  return ProtoDraw<ProtoRefillDraw16k>(t_proto_16k);
}

void ProtoBuf16k(void *out, size_t n) {
  ProtoThread &t = t_proto_16k;
  if (__builtin_expect(t.avail < static_cast<int32_t>(n), 0)) {
    // Discard the short remainder (already random, never served) and refill;
    // the draw that refills takes its first u32 from the fresh buffer too.
    const uint32_t first = ProtoRefillDraw16k();
    memcpy(out, &first, n < sizeof first ? n : sizeof first);
    if (n <= sizeof first) return;
    out = static_cast<uint8_t *>(out) + sizeof first;
    n -= sizeof first;
  }
  const int32_t left = t.avail - static_cast<int32_t>(n);
  memcpy(out, t.data + left, n);
  memset(t.data + left, 0, n);
  t.avail = left;
}

namespace {

struct AnatomyCipher {
  EVP_CIPHER_CTX *ctx = nullptr;
  alignas(64) uint8_t out[kKeyBytes + kMaxCapacity];
  AnatomyCipher() {
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr || EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, nullptr, nullptr) != 1)
      Die("EVP_EncryptInit_ex");
    if (getrandom(out, kKeyBytes, 0) != static_cast<ssize_t>(kKeyBytes)) Die("getrandom");
    Rekey(ctx, out);
  }
  ~AnatomyCipher() { EVP_CIPHER_CTX_free(ctx); }
  uint32_t Keystream(size_t len) {
    int written = 0;
    if (EVP_EncryptUpdate(ctx, out, &written, kZeros, static_cast<int>(len)) != 1)
      Die("EVP_EncryptUpdate");
    return out[len - 1];
  }
};

AnatomyCipher &Anatomy() {
  thread_local AnatomyCipher cipher;
  return cipher;
}

}  // namespace

uint32_t ProtoRekeyOnly() {
  AnatomyCipher &a = Anatomy();
  // The key slot holds the last output's first bytes; Rekey wipes it after use,
  // which is the same work a refill does.
  Rekey(a.ctx, a.out);
  return a.out[0];
}

uint32_t ProtoKeystream1056() {
  return Anatomy().Keystream(kKeyBytes + 1024);
}

uint32_t ProtoKeystream16416() {
  return Anatomy().Keystream(kKeyBytes + kMaxCapacity);
}

}  // namespace grndpool_bench
