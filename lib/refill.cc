#include "refill.h"

#include <openssl/evp.h>

#include <cstring>

#include "generation.h"
#include "stats.h"

namespace grndpool {
namespace {

RefillConfig g_config{};

// One per thread, reused across refills. Between refills it is keyed with the
// chain's next key (fast key erasure: the key that produced bytes already handed
// out is overwritten as soon as the refill that used it ends). It lives on
// OpenSSL's heap, which grndpool cannot lock; the slice's own bytes are locked.
thread_local EVP_CIPHER_CTX *t_cipher [[gnu::tls_model("initial-exec")]] = nullptr;

const uint8_t kZeroIv[16] = {};

// Fetched once at start-up. Naming the legacy EVP_chacha20() instead would make
// every new context fetch it, under a libcrypto lock that fork() can leave held
// in a child (OpenSSL 3.0 has no fork handlers for it).
EVP_CIPHER *g_chacha20 = nullptr;

EVP_CIPHER_CTX *ThreadCipher() {
  if (t_cipher == nullptr && g_chacha20 != nullptr) {
    t_cipher = EVP_CIPHER_CTX_new();
    if (t_cipher != nullptr &&
        EVP_EncryptInit_ex(t_cipher, g_chacha20, nullptr, nullptr, nullptr) != 1) {
      EVP_CIPHER_CTX_free(t_cipher);
      t_cipher = nullptr;
    }
  }
  return t_cipher;
}

// Keys the thread's cipher with `key` (at block 0) and wipes `key`.
bool KeyCipher(uint8_t *key) {
  EVP_CIPHER_CTX *ctx = ThreadCipher();
  const bool ok = ctx != nullptr && EVP_EncryptInit_ex(ctx, nullptr, nullptr, key, kZeroIv) == 1;
  explicit_bzero(key, kChainKeyBytes);
  return ok;
}

// Writes the next len bytes of the keystream to out by encrypting zeros from a
// shared read-only page: no pass to clear out first.
bool WriteKeystream(uint8_t *out, size_t len) {
  static const uint8_t kZeros[16384] = {};
  while (len > 0) {
    const int chunk = static_cast<int>(len < sizeof kZeros ? len : sizeof kZeros);
    int out_len = 0;
    if (EVP_EncryptUpdate(t_cipher, out, &out_len, kZeros, chunk) != 1 || out_len != chunk)
      return false;
    out += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return true;
}

// Keys the slice's chain from the kernel.
void Rekey(SliceHeader *slice) {
  g_config.ops->fill(slice->next_key, sizeof slice->next_key);
  slice->keystream_left = KeyCipher(slice->next_key) ? g_config.rekey_bytes : 0;
  Count(g_counters.rekeys);
}

// Learns whether the generation moved since the slice's data or chain were made,
// for sources that are asked once per refill. Returns true when it moved.
bool GenerationMovedSinceLastRefill(SliceHeader *slice) {
  if (g_config.ops->mode != kernel::GenerationMode::kPerRefill) return false;
  bool moved = false;
  slice->cookie = LabelForFill(*g_config.ops, slice->cookie, &moved);
  return moved;
}

// Brings the chain up to date before output: rekeyed after fork or on a new slice
// (keystream_left == 0 in a wiped header), on a generation change, when the
// generation cannot be known, and when its byte budget is spent.
void PrepareChain(SliceHeader *slice, bool generation_changed, size_t need) {
  const bool unknown = g_config.ops->mode == kernel::GenerationMode::kUnknown;
  if (generation_changed || unknown || slice->keystream_left < need + kChainKeyBytes) Rekey(slice);
}

// Writes the keystream to the next key's slot (32 bytes) and then to
// out[0, len), then rekeys the cipher with the key slot and wipes it: those 32
// bytes are never served. When the slot and `out` are contiguous (a slice's
// header and data) this is one libcrypto call. If libcrypto fails,
// the kernel fills the output instead, so a draw cannot fail.
void ChainOutput(SliceHeader *slice, uint8_t *out, size_t len) {
  uint8_t *key_slot = slice->next_key;
  const bool contiguous = key_slot + kChainKeyBytes == out;
  bool ok = slice->keystream_left != 0 && t_cipher != nullptr;
  if (ok && contiguous) {
    ok = WriteKeystream(key_slot, kChainKeyBytes + len);
  } else if (ok) {
    ok = WriteKeystream(key_slot, kChainKeyBytes) && WriteKeystream(out, len);
  }
  ok = KeyCipher(key_slot) && ok;
  if (!ok) {
    g_config.ops->fill(out, len);
    slice->keystream_left = 0;  // the next output rekeys from the kernel
    return;
  }
  const uint64_t used = len + kChainKeyBytes;
  slice->keystream_left = slice->keystream_left > used ? slice->keystream_left - used : 0;
}

}  // namespace

void InitRefill(const RefillConfig &config) {
  g_config = config;
  if (config.mode == RefillMode::kChacha20)
    g_chacha20 = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
}

void RefillSlice(SliceHeader *slice, uint32_t capacity, const RefillReason &reason) {
  uint8_t *data = slice->data();
  // Retire the previous fill. Served bytes are already zero; the rest is
  // overwritten below, all `capacity` bytes of it.
  const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
  const uint32_t left = slice->avail > 0 ? static_cast<uint32_t>(slice->avail) : 0;
  Count(g_counters.bytes_served, filled > left ? filled - left : 0);
  Count(g_counters.bytes_discarded, left);
  Count(g_counters.refills);

  // Per draw: the caller already asked the kernel and brings the new cookie.
  if (reason.generation_changed) slice->cookie = reason.new_cookie;
  const bool moved = GenerationMovedSinceLastRefill(slice) || reason.generation_changed;
  if (g_config.mode == RefillMode::kDirect) {
    g_config.ops->fill(data, capacity);
  } else {
    PrepareChain(slice, moved, capacity);
    ChainOutput(slice, data, capacity);
  }
  slice->filled.store(capacity, std::memory_order_relaxed);
  std::atomic_ref<int32_t>(slice->avail)
      .store(static_cast<int32_t>(capacity), std::memory_order_relaxed);
}

void GenerateInto(SliceHeader *slice, void *out, size_t len) {
  Count(g_counters.bytes_served, len);
  Count(g_counters.kernel_draws, g_config.mode == RefillMode::kDirect ? 1 : 0);
  if (g_config.mode == RefillMode::kDirect) {
    g_config.ops->fill(out, len);
    return;
  }
  PrepareChain(slice, GenerationMovedSinceLastRefill(slice), len);
  ChainOutput(slice, static_cast<uint8_t *>(out), len);
}

void ReleaseThreadCipher() {
  if (t_cipher == nullptr) return;
  EVP_CIPHER_CTX_free(t_cipher);  // the chacha20 provider clears its key when freed
  t_cipher = nullptr;
}

}  // namespace grndpool
