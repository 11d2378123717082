// SPDX-License-Identifier: Apache-2.0
#include "lib/refill.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/keystream.h"
#include "lib/stats.h"

namespace grndpool {
namespace {

const Process *g_process = nullptr;

// chacha20 mode: libcrypto is started by the refill that takes the kernel
// bytes filled so far past options.chacha20_after (at start-up when 0), so a
// process that draws little never pays for it. Until then, and for good if
// it cannot start (or a fork cut its start-up short), refills take kernel
// bytes, which is what a keystream refill is keyed from anyway.
enum KeystreamState : uint8_t { kCold, kStarting, kReady, kUnavailable };
std::atomic<uint8_t> g_keystream{kCold};
std::atomic<uint64_t> g_kernel_filled{0};  // bytes filled from the kernel while cold
ReservoirFill g_reservoir = nullptr;       // set at start-up, or never

const kernel::KernelOps &Kernel() {
  return *g_process->kernel;
}

// A fresh kernel key in the slice's key slot.
void Rekey(SliceHeader *slice) {
  CountFill(Kernel().fill(slice->refill_key, sizeof slice->refill_key));
  Count(g_counters.rekeys);
}

// Enough cipher contexts for every refill that can run at once: the cores
// that can run one, and threads preempted inside one; never more than there
// are slices.
size_t CipherContexts(const SlabGeometry &geometry) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const size_t wanted = 32 + 8 * static_cast<size_t>(cpus > 0 ? cpus : 1);
  return std::min(wanted, geometry.max_owned_slices + 1 + geometry.max_hot_slices);
}

// Produces len bytes into out from the key in the slice's slot, then wipes
// the slot. If libcrypto could not serve (no context free, or it failed), or a
// fork overlapped the keyed work (the child's copy of libcrypto's heap could
// then hold this key), the output comes from the kernel instead: a draw
// cannot fail, and no output is derived from a key a child may hold.
void KeyedOutput(SliceHeader *slice, uint8_t *out, size_t len) {
  const uint32_t forks = fork::ForkCount();
  const bool ok = Keystream(slice->refill_key, out, len);
  explicit_bzero(slice->refill_key, sizeof slice->refill_key);
  // An odd count: a fork was being prepared when this began. A fork in
  // progress now (read first: Parent moves the count before it stops being
  // in progress) may have copied the key, also when two forks at once left
  // the count even. ForkedSince also reads the canary: a raw clone's child
  // (no atfork handler) continues this refill with its key slot wiped, and
  // must not keep a zero key's output. Kernel bytes replace it: no retry loop
  // waits for the fork to end.
  if (ok && !fork::ForkInProgress() && !fork::ForkedSince(forks) && (forks & 1) == 0) return;
  CountFill(Kernel().fill(out, len));
}

// Output of any length, in pieces of at most the rekey budget, each from a
// fresh kernel key. Why a kernel key every time: libcrypto's context, on a
// heap that is not wiped on fork, holds the key while a piece is made, and a
// raw clone() racing it runs no atfork handler that could make the parent
// throw that output away. The child can then compute that one piece, and
// nothing after it.
void InPieces(SliceHeader *slice, uint8_t *out, size_t len) {
  const size_t piece_max = static_cast<size_t>(g_process->options.rekey_bytes);
  while (len > 0) {
    const size_t piece = std::min(len, piece_max);
    Rekey(slice);
    KeyedOutput(slice, out, piece);
    out += piece;
    len -= piece;
  }
}

// Starts libcrypto (once, on the calling thread; never waited for), with
// every signal blocked on this thread: OpenSSL's initialisation takes locks,
// and a handler that forked in there left a child resuming it with a lock
// held (it hung); a handler that drew would start it again. A fork from
// another thread meanwhile leaves a child in kStarting, on kernel bytes.
bool StartKeystream() {
  uint8_t cold = kCold;
  if (!g_keystream.compare_exchange_strong(cold, kStarting, std::memory_order_acq_rel))
    return cold == kReady;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  const bool ok = InitKeystream(CipherContexts(g_process->geometry));
  g_keystream.store(ok ? kReady : kUnavailable, std::memory_order_release);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

// True when `len` bytes are to come from the keystream; false: from the kernel.
bool UseKeystream(size_t len) {
  const uint8_t state = g_keystream.load(std::memory_order_acquire);
  if (__builtin_expect(state == kReady, 1)) return true;
  if (state != kCold) return false;  // starting on another thread, or unavailable
  const uint64_t after = g_process->options.chacha20_after;
  if (g_kernel_filled.fetch_add(len, std::memory_order_relaxed) + len <= after) return false;
  return StartKeystream();
}

// Fills out from the kernel or the keystream, whichever is in force.
void Fill(SliceHeader *slice, uint8_t *out, size_t len) {
  if (g_process->options.refill == RefillMode::kChacha20 && UseKeystream(len))
    InPieces(slice, out, len);
  else
    CountFill(Kernel().fill(out, len));
}

// A small refill's bytes from the reservoir, when there is one, the
// keystream (which fills it) is in use and this refill read the kernel's
// generation (a stamp's label; the read moved the epoch if it changed, and
// the reservoir serves only bytes of the current epoch). Otherwise refills
// take what they always took: with the generation unknown each takes a
// fresh kernel key, so bytes made before a reseed nobody saw do not outlive
// the next refill.
bool FromReservoir(uint8_t *out, size_t len, bool generation_read) {
  // (Registered only under chacha20 refills: ReservoirBytes.)
  return g_reservoir != nullptr && len <= kReservoirMaxBytes && generation_read &&
         KeystreamStarted() && g_reservoir(out, len);
}

}  // namespace

void SetRefillReservoir(ReservoirFill fill) {
  g_reservoir = fill;
}

void InitRefill(const Process &process) {
  g_process = &process;
  if (process.options.refill == RefillMode::kChacha20 && process.options.chacha20_after == 0)
    StartKeystream();
}

bool RefillReady() {
  return g_process != nullptr;
}

bool KeystreamStarted() {
  return g_keystream.load(std::memory_order_acquire) == kReady;
}

const char *KeystreamStatus() {
  switch (g_keystream.load(std::memory_order_acquire)) {
    case kReady:
      return "started";
    case kStarting:
      return "starting";
    case kUnavailable:
      return "unavailable";
    default:
      return "not-yet";
  }
}

void RefillSlice(SliceHeader *slice, uint32_t capacity, const Stamp &stamp) {
  uint8_t *data = slice->data();
  // Retire the previous fill. Served bytes are already zero; the rest is
  // overwritten below, all `capacity` bytes of it.
  const uint32_t filled = slice->filled.load(std::memory_order_relaxed);
  const uint32_t left = slice->avail > 0 ? static_cast<uint32_t>(slice->avail) : 0;
  const bool from_reservoir = FromReservoir(data, capacity, stamp.label != 0);
  if (!from_reservoir) Fill(slice, data, capacity);
  // Deferred for small slices, whose owners' exit flushes the tally; a hot
  // slice's or a per-CPU buffer's (any thread, maybe one with no exit hook)
  // at once: they are rare.
  CountRefill(filled > left ? filled - left : 0, left, from_reservoir,
              capacity <= kReservoirMaxBytes);
  slice->stamp = stamp;
  slice->filled.store(capacity, std::memory_order_relaxed);
  std::atomic_ref<int32_t>(slice->avail)
      .store(static_cast<int32_t>(capacity), std::memory_order_relaxed);
}

bool ReservoirDraw(void *out, size_t n, ReservoirWindow *window) {
  if (g_reservoir == nullptr || n > kReservoirMaxBytes || !KeystreamStarted()) return false;
  // The generation is read first, as for a refill (a 1-byte vDSO call: most
  // of an overflow draw's cost if made for each), once per smallest slice's
  // capacity of bytes served; after a failed read, not again for as many
  // bytes (served elsewhere meanwhile).
  const uint32_t span =
      static_cast<uint32_t>(g_process->geometry.min_slice_bytes - kSliceHeaderBytes);
  // Each count read once and written once, and one above the span taken as
  // spent: a signal handler that forks between a read and a write leaves the
  // child's reset window a value it may hold, never a wrapped one.
  uint32_t unread = window->unread;
  if (unread > span) unread = 0;
  if (unread < n) {
    if (const uint32_t skip = window->skip; skip >= n && skip <= span) {
      window->skip = skip - static_cast<uint32_t>(n);
      return false;
    }
    if (StampForFill(Stamp{}).label == 0) {
      window->unread = 0;
      window->skip = span;
      return false;
    }
    unread = span;
    window->unread = span;
    window->skip = 0;
  }
  // FromReservoir's conditions hold (checked above; the generation was read
  // within the window), so only the reservoir's fill is left to ask.
  if (!g_reservoir(static_cast<uint8_t *>(out), n)) return false;
  window->unread = unread - static_cast<uint32_t>(n);
  return true;
}

void GenerateInto(SliceHeader *slice, void *out, size_t len) {
  Count(g_counters.bytes_served, len);
  if (g_process->options.refill == RefillMode::kDirect) Count(g_counters.kernel_draws);
  // No stamp: each keystream piece takes a fresh kernel key.
  Fill(slice, static_cast<uint8_t *>(out), len);
}

}  // namespace grndpool
