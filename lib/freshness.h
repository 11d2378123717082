// SPDX-License-Identifier: Apache-2.0
// Freshness: when buffered bytes may still be served. The one rule the
// library exists for, in one place.
//
// Bytes may be served while nothing happened since they were made that gives
// the kernel's CRNG a new state: no fork, no reseed (VM forks included). So a
// buffer records a Stamp when it is filled and checks it before it serves
// ("record when you fill, compare before you serve"):
//  - The process epoch moves whenever any thread learns that the kernel's
//    generation moved: at a refill (stock kernel: the generation is read
//    there), at any draw (GRND_TIMESTAMP in the vDSO), and in a child after
//    fork. A stamp of an older epoch is stale for every thread at once, and
//    buffers whose fast path reads no global (the slab's slices) are told by
//    hooks (OnNewEpoch) when it moves.
//  - With GRND_TIMESTAMP in the vDSO the label is the kernel's cookie, asked
//    on every check: a window of 0 bytes once the kernel has reseeded.
//  - A fork wipes every buffer (wipe-on-fork memory), so a child sees an
//    empty buffer and epoch 0, which is never current; a fork during a copy
//    is caught by the fork count around it (Serve's last step).
// The label is read before the bytes it labels are made, so bytes are never
// older than their label; or, for a small slice refilled from the per-CPU
// reservoir (lib/refill.h), before bytes are copied in that were made in the
// epoch current at the copy, which is the label's or a later one: never
// older than the label's epoch. (So the reservoir needs a readable
// generation at each refill, and at each overflow window: a thread past the
// budget reads it once per smallest slice's capacity of reservoir bytes; it
// is off with GRND_TIMESTAMP per draw, whose labels are cookies compared on
// every check.)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lib/fork.h"
#include "lib/kernel/kernel_ops.h"
#include "lib/slice.h"

namespace grndpool {

// Start-up only: the kernel path whose generation this follows. Registers the
// child-after-fork hook that moves the epoch.
void InitFreshness(const kernel::KernelOps &kernel);

// The process epoch: starts at 1, only ever moves forward.
uint32_t Epoch();

// A stamp for bytes about to be made, after `previous` (the buffer's last
// stamp): the label read from the kernel now, and the epoch that label
// belongs to (reading it may move the epoch). Async-signal-safe.
Stamp StampForFill(const Stamp &previous);

// Whether bytes stamped `s` may be served now: of the current epoch and, with
// GRND_TIMESTAMP in the vDSO, the kernel's cookie unchanged (a changed cookie
// moves the epoch). Async-signal-safe.
bool IsCurrent(const Stamp &s);

// The epoch word itself, for serving code that compares a buffer's stamp with
// it inside a restartable sequence (lib/strategies/per_cpu.cc), where no
// function can be called.
const std::atomic<uint32_t> *EpochWord();

// With GRND_TIMESTAMP in the vDSO: asks whether the last generation seen is
// still the kernel's (one vDSO call) and, when it is not, notes the new one
// (moving the epoch), so that a compare of stamps against the epoch alone is
// then as good as IsCurrent. Otherwise nothing. Async-signal-safe.
void CheckGeneration();

// Records that the kernel's generation is `generation` (a cookie's
// complement, or the generation read at a refill): when it differs from the
// last one seen, counts the change, moves the epoch and runs the hooks. 0 is
// no generation: ignored.
void NoteGeneration(uint64_t generation);

// Moves the epoch and runs the hooks (a child after fork: anything stamped in
// the parent is stale). A seq_cst fence between the move and the hooks pairs
// with StampOwner's (lib/slice.h).
void NewEpoch();

// Buffers that cannot compare the epoch on every draw register a hook that
// makes their next draw do so (at most 4; start-up only). It runs on the
// thread that noticed, inside its draw; it must not block or allocate. Its
// loads come after NewEpoch's fence: a buffer it marks by an owner word
// stores its owner's tag with StampOwner (lib/slice.h).
void OnNewEpoch(void (*hook)());

// Stamp (lib/slice.h): {epoch, label} recorded when a buffer is filled.
//
// How Serve() reaches a buffer. Each kind of buffer (the slab's slices, the
// overflow slices, each strategy) says only how it keeps and shares its
// bytes; the protocol is Serve's:
//   bool Wiped()                a fork or the kernel wiped it since its last fill
//   void Reset()                make a wiped buffer empty and usable (relock)
//   Stamp stamp()               its stamp
//   size_t Avail()              bytes it can serve now
//   size_t Take(uint8_t *, n)   copies at most n of them out and zeroes them
//   bool Refill(const Stamp &)  throws away what is left, fills it under the stamp;
//                               false when it cannot (the kernel serves instead)
enum class Served : uint8_t {
  kServed,    // out holds n fresh bytes
  kUnfilled,  // the buffer could not be filled: serve from the kernel
  kCut,       // a fork happened during the copy (a signal handler forked): redo it
};

// The guarded serve, the one protocol every buffer follows: note the fork
// count; reset a wiped buffer; compare the stamp; refill under a new stamp
// when it is stale or empty; copy and zero; then check that nothing cut the
// copy: the buffer was not wiped under it, and no fork happened (in the child
// the copy may have read wiped bytes, in the parent the child may hold them).
// Partial takes refill as often as needed.
template <typename Buffer>
Served Serve(Buffer &buffer, uint8_t *out, size_t n) {
  const uint32_t forks = fork::ForkCount();
  if (buffer.Wiped()) buffer.Reset();
  bool current = IsCurrent(buffer.stamp());
  while (n > 0) {
    if (!current || buffer.Avail() == 0) {
      if (!buffer.Refill(StampForFill(buffer.stamp()))) return Served::kUnfilled;
      current = true;
    }
    const size_t took = buffer.Take(out, n);
    if (took == 0) return Served::kUnfilled;  // others took what was there
    out += took;
    n -= took;
  }
  // Wiped under the copy (the kernel dropped the page, or the epoch moved), or
  // a fork during it: what was copied is not trusted.
  if (buffer.Wiped() || fork::ForkedSince(forks)) return Served::kCut;
  return Served::kServed;
}

}  // namespace grndpool
