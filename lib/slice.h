// SPDX-License-Identifier: Apache-2.0
// Layout of one slice: a 64-byte header followed by the bytes it serves.
//
// Slices live in slab segments mapped with MADV_WIPEONFORK, so in a child every
// header reads as zero. `avail` being zero is what sends a child's first draw to
// the slow path: it is the fork canary the fast path checks on every draw.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lib/tsan.h"

namespace grndpool {

inline constexpr uint32_t kSliceHeaderBytes = 64;
// The smallest slice: GRNDPOOL_SLICE_BYTES' own lower bound.
inline constexpr size_t kMinSliceBytes = 256;
inline constexpr uint32_t kRefillKeyBytes = 32;
// The claim word of a slice being wiped and freed: no thread has this tag, so
// nobody claims the slice and its old owner's checks fail meanwhile.
inline constexpr uint32_t kRetiringTag = UINT32_MAX;
// The stamp of a slice whose bytes went stale when the process epoch moved
// (lib/freshness.h): its owner's next draw fails the check after the copy
// and refills. No thread has this tag either.
inline constexpr uint32_t kStaleTag = UINT32_MAX - 1;

// What buffered bytes were made under: record it when filling, compare it
// before serving (the protocol is lib/freshness.h's).
struct Stamp {
  uint32_t epoch = 0;  // the process epoch at fill; 0: never filled, or wiped
  uint64_t label = 0;  // the kernel's cookie or generation read before the fill; 0: unknown
};

// The largest refill the per-CPU reservoir serves (lib/refill.h): small
// slices' refills take their bytes from it.
constexpr size_t kReservoirMaxBytes = 4096;

// An overflow thread's reservoir draws since it last read the kernel's
// generation (lib/refill.h, ReservoirDraw): bytes it may still take before
// it reads again, and bytes to serve elsewhere before it tries again after
// a failed read. Zero: read at the next draw.
struct ReservoirWindow {
  uint32_t unread = 0;
  uint32_t skip = 0;
};

// Every size of the slab, derived from the options once, at start-up.
struct SlabGeometry {
  size_t slice_bytes;         // header included; the largest owned slice
  uint32_t capacity;          // bytes a slice of slice_bytes serves between refills
  size_t segment_bytes;       // max(page, slice_bytes)
  size_t max_segments;        // slab budget / segment_bytes, overflow segment included
  size_t slices_per_segment;  // of slice_bytes (the overflow segment's split)
  // Owned slices shrink as the budget runs out (lib/slice_directory.h):
  // down to min_slice_bytes, so a segment holds up to this many.
  size_t min_slice_bytes;
  size_t max_slices_per_segment;
  size_t max_owned_slices;  // at most: the owned budget in slices of min_slice_bytes
  // At least, once hot slices have given their budget back: what sizing by
  // segment index makes (lib/slice_directory.h, SliceBytesFor).
  size_t promised_slices;
  // Memory of a hot slice, header included: GRNDPOOL_HOT_SLICE_BYTES rounded
  // up to whole pages (what it maps, locks and is charged); 0: hot slices are off.
  size_t hot_slice_bytes;
  uint32_t hot_capacity;  // bytes a hot slice serves between refills (0: off)
  size_t max_hot_slices;  // at most half the budget
  // Of the budget, kept for the per-CPU reservoir small slices refill from
  // (lib/strategies/per_cpu.cc); 0: none. The sizes above share the rest.
  size_t reservoir_bytes;
};

struct alignas(64) SliceHeader {
  // Bytes left to serve; the next draw of n bytes takes data()[avail - n, avail).
  // Updated by the owner with one non-atomic read-modify-write instruction, so a
  // signal handler interrupting a draw gets a disjoint range. May go negative
  // after a failed draw: the slow path then refills.
  int32_t avail;
  std::atomic<uint32_t> filled;  // bytes the last refill produced (read by stats)
  // The owning thread's tag while the slice may serve: the fast path checks
  // it after every copy. Reads 0 in a child after fork and in a page the
  // kernel dropped, and kStaleTag once the process epoch moved. Who owns the
  // slice is its claim word (Claim), which neither wipes.
  std::atomic<uint32_t> owner;
  uint32_t unused_;
  Stamp stamp;  // what the data was made under (lib/freshness.h)
  // chacha20: each refill reads a fresh kernel key into this slot (locked,
  // wipe-on-fork, not dumped), produces the data from it and wipes it; it
  // holds a key only while a refill runs.
  uint8_t refill_key[kRefillKeyBytes];

  uint8_t *data() { return reinterpret_cast<uint8_t *>(this + 1); }

  // Bytes served since the last refill, for stats; 0 for a free or retiring
  // slice. avail is written by its owner with a plain store: a stale value
  // only makes the snapshot approximate.
  uint32_t ServedSinceRefill() {
    const uint32_t tag = owner.load(std::memory_order_relaxed);
    if (tag == 0 || tag == kRetiringTag) return 0;
    const int32_t left = std::atomic_ref<int32_t>(avail).load(std::memory_order_relaxed);
    const uint32_t done = filled.load(std::memory_order_relaxed);
    const uint32_t remaining = left > 0 ? static_cast<uint32_t>(left) : 0;
    return done > remaining ? done - remaining : 0;
  }

  // A claimed slice starts empty.
  void Reset() {
    std::atomic_ref<int32_t>(avail).store(0, std::memory_order_relaxed);
    filled.store(0, std::memory_order_relaxed);
    stamp = Stamp{};
  }
};
static_assert(sizeof(SliceHeader) == kSliceHeaderBytes);

// An owned slice and its claim word: the tag of the thread that owns it, 0
// when free. The claim word decides ownership (claims are compare-and-swaps
// on it) and never lives in memory the kernel may drop (MAP_DROPPABLE): a
// dropped page wipes a slice's data and stamp, never its claim, so no other
// thread can claim the slice before its owner sees the drop and refills it.
// Claim words are wiped in a child after fork.
struct Claim {
  SliceHeader *slice = nullptr;
  std::atomic<uint32_t> *word = nullptr;
  uint32_t capacity = 0;  // bytes the slice serves between refills

  explicit operator bool() const { return slice != nullptr; }
  // False for an empty Claim (a thread whose slice a fork took away).
  bool HeldBy(uint32_t tag) const {
    return word != nullptr && word->load(std::memory_order_relaxed) == tag;
  }
};

// Makes a slice empty and owned by `tag` (a claim, or a restamp after the
// epoch moved or the kernel dropped its page), then a seq_cst fence before the
// owner next reads the epoch. With the fence in NewEpoch (lib/freshness.cc) it
// makes a store-buffering pair ([atomics.order]/4.4): either a new epoch's
// hook, whose loads (segment and hot-slice counts, slice sizes, claim words,
// owner words) all follow NewEpoch's fence, sees the tag or a later value, and
// every write that happened before the tag (the claim, a split's new size, a
// grown segment), so MakeStale marks the slice; or the owner's next Epoch()
// reads the new epoch. Without the pair a restamped slice could be filled
// under the old epoch while the hook, reading the owner word before the tag
// landed, left it alone, and the fast path, which checks only the owner word,
// would serve that fill after the hooks ran. One barrier per claim or restamp
// (x86-64: a locked instruction or mfence, by compiler and tuning; arm64: dmb
// ish), never per draw or refill. Every store of an owner's tag goes here.
inline void StampOwner(SliceHeader *slice, uint32_t tag) {
  slice->Reset();
  slice->owner.store(tag, std::memory_order_relaxed);
  SeqCstFence();
}

// When the process epoch moves: a claimed slice's stamp becomes kStaleTag, so
// its owner's next draw fails the check after the copy and refills. Only
// from its owner's tag: a slice being retired, or stamped anew, is left alone
// (a tag stored meanwhile is either seen here or its owner's fill reads the
// new epoch: StampOwner).
inline void MakeStale(const std::atomic<uint32_t> &claim, SliceHeader *slice) {
  uint32_t tag = claim.load(std::memory_order_relaxed);
  if (tag != 0 && tag != kRetiringTag)
    slice->owner.compare_exchange_strong(tag, kStaleTag, std::memory_order_relaxed);
}

// A slice of the overflow segment, shared lock-free by threads that found no free
// slice once the slab budget was spent.
struct alignas(64) SharedSliceHeader {
  // [round:32][filled:16][next unreserved offset:16]; one CAS reserves a range.
  std::atomic<uint64_t> cursor;
  // [round:32][bytes copied out and zeroed:32]; when it reaches `filled` every
  // reservation is finished, and the thread that claims the refill (by CAS to
  // kRefilling) may overwrite the data.
  std::atomic<uint64_t> consumed;
  // The stamp of the round's data (lib/freshness.h), written by the thread
  // that refills before it publishes the round.
  std::atomic<uint32_t> epoch;
  std::atomic<uint64_t> label;
  uint8_t pad_[32 - sizeof(std::atomic<uint32_t>)];

  uint8_t *data() { return reinterpret_cast<uint8_t *>(this + 1); }
};
static_assert(sizeof(SharedSliceHeader) == kSliceHeaderBytes);

}  // namespace grndpool
