// SPDX-License-Identifier: Apache-2.0
#include "lib/refill.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/generation.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

RefillConfig g_config{};

const uint8_t kZeroIv[16] = {};
const uint8_t kZeroKey[kChainKeyBytes] = {};

// Fetched once at start-up. Naming the legacy EVP_chacha20() instead would make
// every new context fetch it, under a libcrypto lock that fork() can leave held
// in a child (OpenSSL 3.0 has no fork handlers for it).
EVP_CIPHER *g_chacha20 = nullptr;

// Cipher contexts live on OpenSSL's heap, which grndpool cannot lock or wipe on
// fork, so a context holds a real key only inside ChainOutput(): it is keyed
// from the slice's key slot, produces the next key and the output, and is
// keyed with zeros again before the refill returns. Between refills the only
// key of a chain is its slot in the locked, wipe-on-fork slab.
//
// So a context belongs to no thread: a refill takes one from this pool and puts
// it back into the same slot (single atomic operations; a draw may run in a
// signal handler that interrupted malloc, so contexts are all made at start-up).
// The pool needs as many contexts as refills run at once, not one per thread.
// With every slot empty (more refills in progress than contexts) a refill takes
// kernel bytes instead.
constexpr int kPoolSlots = 256;
std::atomic<EVP_CIPHER_CTX *> g_pool[kPoolSlots];
int g_pool_size = 0;  // slots filled at start-up
// Every context made, for the life of the process (a refill cut short by a
// fork in a signal handler leaves its context out of the child's pool).
EVP_CIPHER_CTX *g_contexts[kPoolSlots];
// The slot this thread took from last (-1: none yet): usually free again, so
// a thread keeps using one context, warm in its core's cache, and threads do
// not contend for the first slots. A new thread starts at the next slot round
// the pool.
thread_local int t_pool_slot [[gnu::tls_model("initial-exec")]] = -1;
std::atomic<unsigned> g_next_slot{0};

// A context and the slot to return it to, or {nullptr, -1}.
struct TakenCipher {
  EVP_CIPHER_CTX *ctx;
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
    if (EVP_CIPHER_CTX *ctx = g_pool[slot].exchange(nullptr, std::memory_order_acquire)) {
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

EVP_CIPHER_CTX *NewCipher() {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx != nullptr && EVP_EncryptInit_ex(ctx, g_chacha20, nullptr, kZeroKey, kZeroIv) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    ctx = nullptr;
  }
  return ctx;
}

// Writes the next len bytes of the keystream to out by encrypting zeros from a
// shared read-only page: no pass to clear out first.
bool WriteKeystream(EVP_CIPHER_CTX *ctx, uint8_t *out, size_t len) {
  static const uint8_t kZeros[16384] = {};
  while (len > 0) {
    const int chunk = static_cast<int>(std::min(len, sizeof kZeros));
    int out_len = 0;
    if (EVP_EncryptUpdate(ctx, out, &out_len, kZeros, chunk) != 1 || out_len != chunk) return false;
    out += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return true;
}

// A fresh kernel key in the slice's key slot.
void Rekey(SliceHeader *slice) {
  g_config.ops->fill(slice->next_key, sizeof slice->next_key);
  Count(g_counters.rekeys);
}

// Reads the generation at a refill, for sources that are asked once per refill:
// the counters (generation_changes, generation_unknown) and the slice's label.
// Nothing else depends on it: every refill takes a fresh kernel key anyway.
void ObserveGeneration(SliceHeader *slice) {
  switch (g_config.ops->mode) {
    case kernel::GenerationMode::kPerDraw:
      return;  // the draw path asks on every draw
    case kernel::GenerationMode::kUnknown:
      Count(g_counters.generation_unknown);
      return;
    case kernel::GenerationMode::kPerRefill:
      break;
  }
  bool moved = false;
  const uint64_t label = LabelForFill(*g_config.ops, slice->cookie, &moved);
  if (label == 0)
    Count(g_counters.generation_unknown);
  else
    slice->cookie = label;
}

// libcrypto's keystream code keeps the key (and the state derived from it) in
// its own stack frame, which stays in the thread's stack, below the stack
// pointer, after the call returns: a fork then copies it into the child, and
// the key of the refill that filled a slice computes everything that slice
// still serves. So the stack libcrypto used is overwritten before a refill
// returns: this frame sits where libcrypto's did.
constexpr size_t kStackScrubBytes = 4096;
[[gnu::noinline]] void ScrubStack() {
  uint8_t scratch[kStackScrubBytes];
  explicit_bzero(scratch, sizeof scratch);
  __asm__ volatile("" : : "r"(scratch) : "memory");
}

// Produces len bytes into out from the key in the slot and erases that key:
// one libcrypto call over slot and output when they are contiguous (a slice's
// header and data), else the slot is wiped. If libcrypto fails, or a fork
// overlapped the keyed work (the child's copy of the context could then hold
// this key), the output comes from the kernel instead: a draw cannot fail, and
// no output is derived from a key a child may hold.
void ChainOutput(SliceHeader *slice, uint8_t *out, size_t len) {
  uint8_t *slot = slice->next_key;
  const uint32_t forks = fork::ForkCount();
  const TakenCipher taken = TakeCipher();
  EVP_CIPHER_CTX *ctx = taken.ctx;
  bool ok = ctx != nullptr && EVP_EncryptInit_ex(ctx, nullptr, nullptr, slot, kZeroIv) == 1;
  if (ok && slot + kChainKeyBytes == out) {
    ok = WriteKeystream(ctx, slot, kChainKeyBytes + len);
  } else if (ok) {
    // Output elsewhere (a large draw): the next piece takes a kernel key
    // anyway, so the slot is wiped instead of written with a next key.
    explicit_bzero(slot, kChainKeyBytes);
    ok = WriteKeystream(ctx, out, len);
  }
  if (ctx != nullptr) ok = EVP_EncryptInit_ex(ctx, nullptr, nullptr, kZeroKey, kZeroIv) == 1 && ok;
  ReturnCipher(taken);
  ScrubStack();
  // An odd count: a fork was being prepared when this began.
  if (ok && fork::ForkCount() == forks && (forks & 1) == 0) return;
  explicit_bzero(slot, kChainKeyBytes);
  g_config.ops->fill(out, len);
}

// Output of any length, in pieces of at most the rekey budget, each from a
// fresh kernel key. (The chain still writes its next key ahead of the output
// and erases the one it used, but the next piece replaces it.) Why a kernel
// key every time: libcrypto's context, on a heap that is not wiped on fork,
// holds the key while a refill runs, and a raw clone() racing it runs no
// atfork handler that could make the parent throw that output away. The child
// can then compute that one piece's output, and nothing after it.
void ChainInPieces(SliceHeader *slice, uint8_t *out, size_t len) {
  const size_t piece_max = static_cast<size_t>(g_config.rekey_bytes) - kChainKeyBytes;
  while (len > 0) {
    const size_t piece = std::min(len, piece_max);
    Rekey(slice);
    ChainOutput(slice, out, piece);
    out += piece;
    len -= piece;
  }
}

}  // namespace

void InitRefill(const RefillConfig &config) {
  g_config = config;
  if (config.mode != RefillMode::kChacha20) return;
  g_chacha20 = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  if (g_chacha20 == nullptr) return;
  const size_t contexts = std::min<size_t>(config.contexts, kPoolSlots);
  for (size_t i = 0; i < contexts; ++i) {
    EVP_CIPHER_CTX *ctx = NewCipher();
    if (ctx == nullptr) break;
    g_contexts[i] = ctx;
    g_pool[i].store(ctx, std::memory_order_relaxed);
    g_pool_size = static_cast<int>(i + 1);
  }
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
  ObserveGeneration(slice);
  if (g_config.mode == RefillMode::kDirect) {
    g_config.ops->fill(data, capacity);
  } else {
    ChainInPieces(slice, data, capacity);
  }
  slice->filled.store(capacity, std::memory_order_relaxed);
  std::atomic_ref<int32_t>(slice->avail)
      .store(static_cast<int32_t>(capacity), std::memory_order_relaxed);
}

void GenerateInto(SliceHeader *slice, void *out, size_t len) {
  Count(g_counters.bytes_served, len);
  if (g_config.mode == RefillMode::kDirect) {
    Count(g_counters.kernel_draws);
    g_config.ops->fill(out, len);
    return;
  }
  // No generation read: each piece takes a kernel key, which is what the
  // read would otherwise decide (refills still read it, for the counters).
  ChainInPieces(slice, static_cast<uint8_t *>(out), len);
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
