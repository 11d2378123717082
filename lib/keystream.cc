// SPDX-License-Identifier: Apache-2.0
#include "lib/keystream.h"

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/scrub.h"

namespace grndpool {
namespace {

constexpr size_t kBlockBytes = 64;
const uint8_t kZeroKey[kKeystreamKeyBytes] = {};
const uint8_t kZeroNonce[16] = {};  // libcrypto's 16-byte IV: counter and nonce, all zero
// Keystream is the encryption of zeros, read from a shared read-only page.
alignas(kBlockBytes) const uint8_t kZeros[16384] = {};

// Our library context and its default provider, kept for the life of the
// process (nothing frees them: a draw may come at any time, exit included).
OSSL_LIB_CTX *g_libctx = nullptr;
OSSL_PROVIDER *g_provider = nullptr;
// The two calls a refill makes, from the default provider's ChaCha20.
OSSL_FUNC_cipher_encrypt_init_fn *g_init = nullptr;
OSSL_FUNC_cipher_update_fn *g_update = nullptr;

// Contexts are lent per call, never owned by a thread: a call takes one from
// the pool and puts it back into the same slot (one atomic exchange each way;
// a draw may run in a signal handler that interrupted malloc, so all contexts
// are made at start-up). The pool needs as many contexts as calls run at
// once, not one per thread.
constexpr int kPoolSlots = 256;
std::atomic<void *> g_pool[kPoolSlots];
int g_pool_size = 0;
// Every context made, for the life of the process (one in use on another
// thread at a fork is missing from the child's pool, not lost).
void *g_contexts[kPoolSlots];
// The slot this thread took from last (-1: none yet): usually free again, so
// a thread keeps one context warm in its core's cache and threads do not all
// contend for the first slots. A new thread starts at the next slot round.
thread_local int t_pool_slot [[gnu::tls_model("initial-exec")]] = -1;
std::atomic<unsigned> g_next_slot{0};

struct TakenCipher {
  void *ctx;
  int slot;
};

TakenCipher TakeCipher() {
  const int size = g_pool_size;
  if (size == 0) return {nullptr, -1};
  if (t_pool_slot < 0)
    t_pool_slot = static_cast<int>(g_next_slot.fetch_add(1, std::memory_order_relaxed) %
                                   static_cast<unsigned>(size));
  for (int i = 0; i < size; ++i) {
    const int slot = (t_pool_slot + i) % size;
    if (g_pool[slot].load(std::memory_order_relaxed) == nullptr) continue;
    if (void *ctx = g_pool[slot].exchange(nullptr, std::memory_order_acquire)) {
      t_pool_slot = slot;
      return {ctx, slot};
    }
  }
  return {nullptr, -1};
}

// Only the taker fills a slot it emptied, so the slot is free.
void ReturnCipher(const TakenCipher &taken) {
  if (taken.ctx != nullptr) g_pool[taken.slot].store(taken.ctx, std::memory_order_release);
}

bool KeyWith(void *ctx, const uint8_t *key) {
  return g_init(ctx, key, kKeystreamKeyBytes, kZeroNonce, sizeof kZeroNonce, nullptr) == 1;
}

// Whole blocks only: libcrypto's ChaCha20 buffers a keystream block in its
// context only for a length that is not a multiple of 64 (the unused rest of
// the last block, which would be the next bytes a slice serves).
bool WholeBlocks(void *ctx, uint8_t *out, size_t len) {
  while (len > 0) {
    const size_t chunk = std::min(len, sizeof kZeros);
    size_t written = 0;
    if (g_update(ctx, out, &written, chunk, kZeros, chunk) != 1 || written != chunk) return false;
    out += chunk;
    len -= chunk;
  }
  return true;
}

// libcrypto's keystream code leaves key-derived state in its dead stack
// frames and in vector registers: both are erased before a call returns.
constexpr size_t kStackScrubBytes = 4096;

// True when `names` (libcrypto's "name1:name2" list) holds exactly "ChaCha20".
bool NamesChaCha20(const char *names) {
  for (const char *p = names; p != nullptr && *p != '\0';) {
    const char *end = strchr(p, ':');
    const size_t len = end != nullptr ? static_cast<size_t>(end - p) : strlen(p);
    if (len == 8 && strncasecmp(p, "ChaCha20", 8) == 0) return true;
    p = end != nullptr ? end + 1 : nullptr;
  }
  return false;
}

}  // namespace

bool InitKeystream(size_t contexts) {
  if (g_libctx != nullptr) return g_pool_size > 0;  // once per process (tests may ask again)
  // No atexit clean-up: exit() on one thread while another is inside
  // libcrypto (start-up included) would free what that thread is using.
  if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) != 1)
    return false;
  g_libctx = OSSL_LIB_CTX_new();
  g_provider = g_libctx != nullptr ? OSSL_PROVIDER_load(g_libctx, "default") : nullptr;
  if (g_provider == nullptr) return false;
  int no_cache = 0;
  const OSSL_ALGORITHM *algorithm =
      OSSL_PROVIDER_query_operation(g_provider, OSSL_OP_CIPHER, &no_cache);
  OSSL_FUNC_cipher_newctx_fn *new_ctx = nullptr;
  for (; algorithm != nullptr && algorithm->algorithm_names != nullptr; ++algorithm) {
    if (!NamesChaCha20(algorithm->algorithm_names)) continue;
    for (const OSSL_DISPATCH *f = algorithm->implementation; f->function_id != 0; ++f) {
      if (f->function_id == OSSL_FUNC_CIPHER_NEWCTX) new_ctx = OSSL_FUNC_cipher_newctx(f);
      if (f->function_id == OSSL_FUNC_CIPHER_ENCRYPT_INIT)
        g_init = OSSL_FUNC_cipher_encrypt_init(f);
      if (f->function_id == OSSL_FUNC_CIPHER_UPDATE) g_update = OSSL_FUNC_cipher_update(f);
    }
    break;
  }
  if (new_ctx == nullptr || g_init == nullptr || g_update == nullptr) return false;
  void *provider_ctx = OSSL_PROVIDER_get0_provider_ctx(g_provider);
  const size_t count = std::min<size_t>(contexts, kPoolSlots);
  for (size_t i = 0; i < count; ++i) {
    void *ctx = new_ctx(provider_ctx);
    if (ctx == nullptr || !KeyWith(ctx, kZeroKey)) break;
    g_contexts[i] = ctx;
    g_pool[i].store(ctx, std::memory_order_relaxed);
    g_pool_size = static_cast<int>(i + 1);
  }
  return g_pool_size > 0;
}

bool Keystream(const uint8_t *key, uint8_t *out, size_t len) {
  const TakenCipher taken = TakeCipher();
  if (taken.ctx == nullptr) return false;
  bool ok = KeyWith(taken.ctx, key);
  const size_t whole = len & ~(kBlockBytes - 1);
  ok = ok && WholeBlocks(taken.ctx, out, whole);
  if (ok && whole < len) {
    uint8_t block[kBlockBytes];
    ok = WholeBlocks(taken.ctx, block, sizeof block);
    memcpy(out + whole, block, len - whole);
    explicit_bzero(block, sizeof block);
  }
  ok = KeyWith(taken.ctx, kZeroKey) && ok;
  ReturnCipher(taken);
  WipeRegisters();
  ScrubStackBelow(kStackScrubBytes);
  return ok;
}

void HoldAllCiphersForTesting(bool hold) {
  static TakenCipher held[kPoolSlots];
  static int count = 0;
  if (hold) {
    for (TakenCipher t = TakeCipher(); t.ctx != nullptr; t = TakeCipher()) held[count++] = t;
  } else {
    while (count > 0) ReturnCipher(held[--count]);
  }
}

}  // namespace grndpool
