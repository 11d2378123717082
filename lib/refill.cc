// SPDX-License-Identifier: Apache-2.0
#include "lib/refill.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/generation.h"
#include "lib/keystream.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

RefillConfig g_config{};
bool g_keystream = false;  // libcrypto's ChaCha20 is ready (chacha20 mode)

// A fresh kernel key in the slice's key slot.
void Rekey(SliceHeader *slice) {
  g_config.ops->fill(slice->refill_key, sizeof slice->refill_key);
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

// Produces len bytes into out from the key in the slice's slot, then wipes
// the slot. If libcrypto could not serve (no context free, or it failed), or a
// fork overlapped the keyed work (the child's copy of libcrypto's heap could
// then hold this key), the output comes from the kernel instead: a draw
// cannot fail, and no output is derived from a key a child may hold.
void KeyedOutput(SliceHeader *slice, uint8_t *out, size_t len) {
  const uint32_t forks = fork::ForkCount();
  const bool ok = g_keystream && Keystream(slice->refill_key, out, len);
  explicit_bzero(slice->refill_key, sizeof slice->refill_key);
  // An odd count: a fork was being prepared when this began.
  if (ok && fork::ForkCount() == forks && (forks & 1) == 0) return;
  g_config.ops->fill(out, len);
}

// Output of any length, in pieces of at most the rekey budget, each from a
// fresh kernel key. Why a kernel key every time: libcrypto's context, on a
// heap that is not wiped on fork, holds the key while a piece is made, and a
// raw clone() racing it runs no atfork handler that could make the parent
// throw that output away. The child can then compute that one piece, and
// nothing after it.
void InPieces(SliceHeader *slice, uint8_t *out, size_t len) {
  const size_t piece_max = static_cast<size_t>(g_config.rekey_bytes);
  while (len > 0) {
    const size_t piece = std::min(len, piece_max);
    Rekey(slice);
    KeyedOutput(slice, out, piece);
    out += piece;
    len -= piece;
  }
}

}  // namespace

void InitRefill(const RefillConfig &config) {
  g_config = config;
  if (config.mode == RefillMode::kChacha20) g_keystream = InitKeystream(config.contexts);
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
    InPieces(slice, data, capacity);
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
  InPieces(slice, static_cast<uint8_t *>(out), len);
}

}  // namespace grndpool
