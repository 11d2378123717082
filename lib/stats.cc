// SPDX-License-Identifier: Apache-2.0
#include "lib/stats.h"

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "lib/kernel/syscall.h"

namespace grndpool {

Counters g_counters;

namespace {

constexpr bool SameName(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}

// The counters the kernel layer keeps a share of.
constexpr std::atomic<uint64_t> *ExtraWord(const char *name) {
  return SameName(name, "kernel_faults")       ? &kernel::g_faults
         : SameName(name, "urandom_fallbacks") ? &kernel::g_urandom_fills
                                               : nullptr;
}

// Gauges of what a child still holds after fork (its mappings); the others
// are recounted by the fork hooks or start from zero.
constexpr bool KeptInChild(const char *name) {
  return SameName(name, "slab_bytes") || SameName(name, "droppable_bytes");
}

// The calling thread's refill and overflow draw counts not yet in the
// counters. `busy` while they change: a signal handler that reads the
// counters meanwhile (and so would flush) leaves them alone, and one that
// draws while this thread flushes them (it reads the counters) counts
// straight into the counters: nothing is added twice, or zeroed before it
// was added.
struct Tally {
  uint64_t refills, reservoir_refills, served, discarded;
  uint64_t shared_draws, reservoir_draws;  // overflow draws
  bool busy;
};
thread_local constinit Tally t_tally [[gnu::tls_model("initial-exec")]] = {};

void AddTally(Tally &t) {
  // Only what moved: an overflow thread's tally holds no refills, a slice
  // owner's no overflow draws.
  if (t.refills != 0) Count(g_counters.refills, t.refills);
  if (t.reservoir_refills != 0) Count(g_counters.reservoir_refills, t.reservoir_refills);
  if (t.served != 0) Count(g_counters.bytes_served, t.served);
  if (t.discarded != 0) Count(g_counters.bytes_discarded, t.discarded);
  if (t.shared_draws != 0) Count(g_counters.shared_draws, t.shared_draws);
  if (t.reservoir_draws != 0) Count(g_counters.reservoir_draws, t.reservoir_draws);
  t.refills = t.reservoir_refills = t.served = t.discarded = 0;
  t.shared_draws = t.reservoir_draws = 0;
}

// Subtracts n from counter unless that would take it below zero.
void TakeBack(std::atomic<uint64_t> &counter, uint64_t n) {
  uint64_t v = counter.load(std::memory_order_relaxed);
  while (v >= n && !counter.compare_exchange_weak(v, v - n, std::memory_order_relaxed)) {
  }
}

uint64_t Value(const CounterWord &c) {
  uint64_t v = c.word->load(std::memory_order_relaxed);
  if (c.extra != nullptr) v += c.extra->load(std::memory_order_relaxed);
  return v;
}

}  // namespace

// Constant-initialised: readable before any constructor ran and from a signal handler.
constinit const CounterWord kCounterWords[] = {
#define GRNDPOOL_WORD(name, help) {#name, &g_counters.name, ExtraWord(#name)},
    GRNDPOOL_COUNTERS(GRNDPOOL_WORD)
#undef GRNDPOOL_WORD
};
constinit const size_t kCounterCount = sizeof kCounterWords / sizeof kCounterWords[0];

// The struct's counters are consecutive uint64_t fields after the header.
static_assert(sizeof(struct grndpool_stats) ==
              offsetof(struct grndpool_stats, bytes_served) +
                  sizeof kCounterWords / sizeof kCounterWords[0] * sizeof(uint64_t));

namespace {

// Adds `delta` to this thread's tally, and the tally to the counters once
// kRefillTally refills or kOverflowTally overflow draws are in it. Straight
// to the counters when not `deferred`, or when the tally is busy (a handler
// that counts while its thread counts or flushes).
void Tallied(Tally delta, bool deferred) {
  if (!deferred || t_tally.busy) return AddTally(delta);
  Tally &t = t_tally;
  t.busy = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.refills += delta.refills;
  t.reservoir_refills += delta.reservoir_refills;
  t.served += delta.served;
  t.discarded += delta.discarded;
  t.shared_draws += delta.shared_draws;
  t.reservoir_draws += delta.reservoir_draws;
  if (t.refills >= kRefillTally || t.shared_draws + t.reservoir_draws >= kOverflowTally)
    AddTally(t);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.busy = false;
}

}  // namespace

void CountRefill(uint64_t served, uint64_t discarded, bool from_reservoir, bool deferred) {
  Tallied(Tally{1, from_reservoir ? 1u : 0u, served, discarded, 0, 0, false}, deferred);
}

void CountOverflowDraw(uint64_t bytes, bool from_reservoir) {
  Tallied(Tally{0, 0, bytes, 0, from_reservoir ? 0u : 1u, from_reservoir ? 1u : 0u, false}, true);
}

void UncountOverflowDraw(uint64_t bytes) {
  Tally &t = t_tally;
  if (!t.busy && t.reservoir_draws > 0 && t.served >= bytes) {
    t.busy = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t.reservoir_draws -= 1;
    t.served -= bytes;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t.busy = false;
    return;
  }
  // In the counters. Not below zero: in a child forked (from a signal handler)
  // after the count, the counters restarted from zero without it.
  TakeBack(g_counters.reservoir_draws, 1);
  TakeBack(g_counters.bytes_served, bytes);
}

void FlushTally() {
  Tally &t = t_tally;
  if (t.busy || (t.refills == 0 && t.shared_draws == 0 && t.reservoir_draws == 0)) return;
  t.busy = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  AddTally(t);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.busy = false;
}

void SnapshotCounters(struct grndpool_stats *out, uint64_t live_served_bytes) {
  FlushTally();
  struct grndpool_stats full;
  memset(&full, 0, sizeof full);
  full.size = sizeof full;
  full.version = GRNDPOOL_STATS_VERSION;
  char *fields = reinterpret_cast<char *>(&full) + offsetof(struct grndpool_stats, bytes_served);
  for (size_t i = 0; i < kCounterCount; ++i) {
    const uint64_t v = Value(kCounterWords[i]);
    memcpy(fields + i * sizeof v, &v, sizeof v);
  }
  full.bytes_served += live_served_bytes;
  size_t want = out->size == 0 || out->size > sizeof full ? sizeof full : out->size;
  if (want < offsetof(struct grndpool_stats, bytes_served)) return;
  memcpy(out, &full, want);
  out->size = static_cast<uint32_t>(want);
}

size_t AppendCounter(char *line, size_t cap, size_t used, const char *name, uint64_t value) {
  if (used + 1 >= cap) return used;
  const int n =
      snprintf(line + used, cap - used, " %s=%llu", name, static_cast<unsigned long long>(value));
  used += n > 0 ? static_cast<size_t>(n) : 0;
  return used < cap ? used : cap - 1;
}

void PrintCounters(int fd, uint64_t live_served_bytes) {
  struct grndpool_stats st;
  st.size = sizeof st;
  SnapshotCounters(&st, live_served_bytes);
  char line[1024];
  size_t used = static_cast<size_t>(
      snprintf(line, sizeof line, "grndpool stats: pid=%d", static_cast<int>(getpid())));
#define GRNDPOOL_PRINT(name, help) \
  used = AppendCounter(line, sizeof line - 1, used, #name, st.name);
  GRNDPOOL_COUNTERS(GRNDPOOL_PRINT)
#undef GRNDPOOL_PRINT
  line[used++] = '\n';
  (void)!write(fd, line, used);
}

void ResetCountersInChild() {
  t_tally = Tally{};
  for (size_t i = 0; i < kCounterCount; ++i) {
    if (KeptInChild(kCounterWords[i].name)) continue;
    kCounterWords[i].word->store(0, std::memory_order_relaxed);
    if (kCounterWords[i].extra != nullptr)
      kCounterWords[i].extra->store(0, std::memory_order_relaxed);
  }
}

}  // namespace grndpool
