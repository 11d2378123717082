// SPDX-License-Identifier: Apache-2.0
// libcrypto's ChaCha20 keystream with nothing around it (no reseed checks, no
// fork safety, no key erasure), two ways:
//   keystream-limit        16 KiB EVP_EncryptUpdate calls on a live context:
//                          the floor any ChaCha20 design over libcrypto can reach.
//   evp-chacha20-per-draw  one EVP_EncryptUpdate per draw, sized to the draw:
//                          what calling libcrypto for every small draw costs.
// Encrypting zeros yields the keystream itself.
#include <openssl/evp.h>
#include <sys/random.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "peers.h"

namespace grndpool_bench {
namespace {

[[noreturn]] void Die(const char *what) {
  fprintf(stderr, "grndpool-bench: chacha20 peer: %s failed\n", what);
  abort();
}

// One context per thread, so threads never share a keystream or a lock.
struct ThreadCipher {
  EVP_CIPHER_CTX *ctx = nullptr;
  ThreadCipher() {
    unsigned char key_iv[32 + 16];
    if (getrandom(key_iv, sizeof key_iv, 0) != static_cast<ssize_t>(sizeof key_iv))
      Die("getrandom");
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr) Die("EVP_CIPHER_CTX_new");
    if (EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key_iv, key_iv + 32) != 1)
      Die("EVP_EncryptInit_ex");
    explicit_bzero(key_iv, sizeof key_iv);
  }
  ~ThreadCipher() { EVP_CIPHER_CTX_free(ctx); }
};

// A shared read-only source of zeros, as lib/refill.cc uses: no pass to clear
// the output first.
alignas(64) const unsigned char kZeros[kKeystreamLimitCallBytes] = {};

void Update(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, size_t n) {
  int written = 0;
  if (EVP_EncryptUpdate(ctx, out, &written, in, static_cast<int>(n)) != 1 ||
      written != static_cast<int>(n))
    Die("EVP_EncryptUpdate");
}

}  // namespace

void EvpChacha20PerDraw(void *out, size_t n) {
  thread_local ThreadCipher cipher;
  auto *p = static_cast<unsigned char *>(out);
  memset(p, 0, n);
  Update(cipher.ctx, p, p, n);
}

void KeystreamLimitCall(void *, size_t) {
  thread_local ThreadCipher cipher;
  // The output goes to the thread's own buffer, not the caller's: one call
  // stands for kKeystreamLimitCallBytes / n draws (Source::bytes_per_call).
  alignas(64) thread_local unsigned char block[kKeystreamLimitCallBytes];
  Update(cipher.ctx, block, kZeros, sizeof block);
}

}  // namespace grndpool_bench
