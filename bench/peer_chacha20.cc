// The ceiling: libcrypto's ChaCha20 keystream with nothing around it (no
// reseed checks, no fork safety, no key erasure). Encrypting zeros in place
// yields the keystream itself.
#include <openssl/evp.h>
#include <sys/random.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "peers.h"

namespace grndpool_bench {
namespace {

[[noreturn]] void Die(const char *what) {
  fprintf(stderr, "grndpool-bench: raw-chacha20: %s failed\n", what);
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

}  // namespace

void RawChacha20Keystream(void *out, size_t n) {
  thread_local ThreadCipher cipher;
  auto *p = static_cast<unsigned char *>(out);
  memset(p, 0, n);
  int written = 0;
  if (EVP_EncryptUpdate(cipher.ctx, p, &written, p, static_cast<int>(n)) != 1)
    Die("EVP_EncryptUpdate");
}

}  // namespace grndpool_bench
