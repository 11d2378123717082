// SPDX-License-Identifier: Apache-2.0
#include "lib/freshness.h"

#include <atomic>

#include "lib/stats.h"

namespace grndpool {
namespace {

const kernel::KernelOps *g_kernel = nullptr;  // the process's kernel path
std::atomic<uint32_t> g_epoch{1};
std::atomic<uint64_t> g_last_generation{0};

constexpr int kMaxHooks = 4;
void (*g_hooks[kMaxHooks])();
int g_hook_count = 0;

// A child after fork: everything stamped in the parent is stale here. (It is
// wiped anyway; the epoch makes the rule hold for any buffer, wiped or not.)
void NoForkLocks() {}
void ChildAfterFork(bool) {
  NewEpoch();
}
const fork::Hooks kForkHooks{NoForkLocks, NoForkLocks, ChildAfterFork};

}  // namespace

void InitFreshness(const kernel::KernelOps &kernel) {
  g_kernel = &kernel;
  fork::RegisterHooks(&kForkHooks);
}

uint32_t Epoch() {
  return g_epoch.load(std::memory_order_acquire);
}

const std::atomic<uint32_t> *EpochWord() {
  return &g_epoch;
}

void CheckGeneration() {
  if (g_kernel->mode != kernel::GenerationMode::kPerDraw) return;
  uint64_t cookie = ~g_last_generation.load(std::memory_order_acquire);
  if (g_kernel->timestamp(&cookie) != 0) NoteGeneration(~cookie);
}

void NewEpoch() {
  g_epoch.fetch_add(1, std::memory_order_acq_rel);
  // Before the hooks' loads: pairs with StampOwner's (lib/slice.h).
  SeqCstFence();
  for (int i = 0; i < g_hook_count; ++i) g_hooks[i]();
}

void OnNewEpoch(void (*hook)()) {
  if (g_hook_count < kMaxHooks) g_hooks[g_hook_count++] = hook;
}

void NoteGeneration(uint64_t generation) {
  // 0 tells nothing (and stands for "none seen yet" below): kept, it would
  // make the next real generation a first one, and a reseed between the two
  // would move no epoch.
  if (generation == 0) return;
  uint64_t last = g_last_generation.load(std::memory_order_relaxed);
  while (last != generation) {
    // The epoch moves before the new generation is published: a thread that
    // finds the kernel still at the published generation (CheckGeneration)
    // then also finds every buffer of the old one stale. (Published first,
    // a draw between the two could compare the epoch only and serve bytes of
    // the old generation: TaggedBytes/per_cpu under TSan found it.) Two
    // threads noting the same change move it twice: one more refill each.
    // The first generation seen is the starting point, not a change.
    if (last != 0) NewEpoch();
    if (g_last_generation.compare_exchange_strong(last, generation, std::memory_order_acq_rel)) {
      if (last != 0) Count(g_counters.generation_changes);
      return;
    }
  }
}

Stamp StampForFill(const Stamp &previous) {
  Stamp stamp;
  switch (g_kernel->mode) {
    case kernel::GenerationMode::kPerDraw: {
      // The cookie is ~generation. Answers 0 while `previous` is current.
      uint64_t cookie = previous.label;
      if (g_kernel->timestamp(&cookie) != 0) NoteGeneration(~cookie);
      stamp.label = cookie;
      break;
    }
    case kernel::GenerationMode::kPerRefill: {
      uint64_t generation = 0;
      // 0 is never the kernel's generation (a vDSO state whose page was
      // dropped after the call reads 0): unknown, as a failed read.
      if (g_kernel->generation(&generation) && generation != 0) {
        NoteGeneration(generation);
        stamp.label = generation;
      } else {
        Count(g_counters.generation_unknown);
      }
      break;
    }
    case kernel::GenerationMode::kUnknown:
      Count(g_counters.generation_unknown);
      break;
  }
  // After the label: the epoch its reading may have moved to.
  stamp.epoch = Epoch();
  return stamp;
}

bool IsCurrent(const Stamp &s) {
  if (s.epoch != Epoch()) return false;
  if (g_kernel->mode != kernel::GenerationMode::kPerDraw) return true;
  uint64_t cookie = s.label;
  if (g_kernel->timestamp(&cookie) == 0) return true;
  NoteGeneration(~cookie);
  return false;
}

}  // namespace grndpool
