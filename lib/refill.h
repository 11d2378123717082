// SPDX-License-Identifier: Apache-2.0
// Refilling a slice: straight from the kernel path (`direct`, the seed's way) or
// from a ChaCha20 keystream (`chacha20`, lib/keystream.h) keyed, at every
// refill and every piece of a large draw, with 32 fresh bytes from the kernel
// path, which are wiped once used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/process.h"
#include "lib/slice.h"

namespace grndpool {

// Start-up: keeps `process` (refill mode, rekey budget, kernel path). In
// chacha20 mode libcrypto is set up and the cipher contexts made
// (InitKeystream: the only place libcrypto allocates) by the one refill that
// takes the kernel bytes filled so far past options.chacha20_after, or here
// when that is 0; refills before it, and all of them if libcrypto cannot
// provide ChaCha20, take kernel bytes.
void InitRefill(const Process &process);

// True once InitRefill ran: not in a process without a thread key, whose
// draws all go to the kernel.
bool RefillReady();

// True once the chacha20 keystream is in use.
bool KeystreamStarted();

// For describe, in chacha20 mode: "started", "not-yet" (refills still take
// kernel bytes), "starting" (on another thread), or "unavailable" (libcrypto
// could not provide ChaCha20, or a fork cut its start: kernel bytes for good).
const char *KeystreamStatus();

// The reservoir: where refills of at most kReservoirMaxBytes may take their
// bytes once the keystream is in use and when the refill read the kernel's
// generation (the per-CPU buffers, under the slab strategy:
// lib/strategies/per_cpu.cc). It copies len bytes of the current
// epoch into out memory to memory, or returns false (then the refill keys
// its own). Its own buffers are larger than kReservoirMaxBytes, so their
// refills never come back to it. Start-up only.
using ReservoirFill = bool (*)(uint8_t *out, size_t len);
void SetRefillReservoir(ReservoirFill fill);

// Discards what is left in `slice`, then fills it with fresh bytes from a new
// kernel key (or straight from the kernel), in pieces of at most the rekey
// budget, or (at most kReservoirMaxBytes) from the reservoir, under `stamp`
// (read before: the bytes are never older than their label; the reservoir
// serves only bytes of the epoch current when it copies, which is the
// stamp's or newer). Leaves avail = filled = capacity. Uses the slice's key
// slot.
void RefillSlice(SliceHeader *slice, uint32_t capacity, const Stamp &stamp);

// A draw of at most kReservoirMaxBytes by a thread that owns no slice (past
// the slab budget), copied from the reservoir under the same conditions as a
// refill. The kernel's generation is read first when fewer than n bytes are
// left of what the thread may serve since its last read (window->unread, the
// thread's: 0 at first), which then becomes a smallest slice's capacity:
// after a reseed nobody has seen, an overflow thread serves at most that much
// from before it, as a small slice does. A failed read is not tried again
// for as many bytes (window->skip). False: not served (no reservoir, the
// keystream not started, the generation unreadable, no buffer, or a fork cut
// it), and the caller serves it elsewhere.
bool ReservoirDraw(void *out, size_t n, ReservoirWindow *window);
// Produces len bytes straight into `out` (from new kernel keys, or the kernel
// in direct mode), for draws larger than a slice. Uses the slice's key slot.
void GenerateInto(SliceHeader *slice, void *out, size_t len);

}  // namespace grndpool
