// SPDX-License-Identifier: Apache-2.0
// The seam between grndpool and the kernel's randomness: what a source offers
// (fill, GRND_TIMESTAMP, generation), so tests can put the userspace kernel model
// (tests/emu/) in its place. Files in lib/kernel/ include nothing outside it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/kernel/uapi.h"

namespace grndpool::kernel {

// How a source learns that the kernel's CRNG generation moved.
enum class GenerationMode : uint8_t {
  kPerDraw,    // GRND_TIMESTAMP in the vDSO: cheap enough to ask on every draw
  kPerRefill,  // generation() asked at every refill (stock vDSO state, GRND_TIMESTAMP syscall)
  kUnknown,    // no way to know: every refill takes fresh kernel bytes
};

// Which kernel call served a fill (the last resort, when several did).
enum class FillPath : uint8_t {
  kVdso,     // the vDSO getrandom
  kSyscall,  // the getrandom(2) system call
  kUrandom,  // /dev/urandom (getrandom missing or denied)
  kModel,    // a test double (tests/emu/)
};

struct KernelOps {
  const char *name;
  GenerationMode mode;
  // Fills buf with len kernel random bytes and says which call served them.
  // Never fails; may sleep only while the kernel CRNG is not yet initialised.
  FillPath (*fill)(void *buf, size_t len);
  // GRND_TIMESTAMP: 0 if *cookie is current, 8 after storing the current cookie,
  // a negative errno where unsupported. Used when mode == kPerDraw.
  long (*timestamp)(uint64_t *cookie);
  // The vDSO getrandom entry when it answers GRND_TIMESTAMP without a system
  // call (mode kPerDraw), called as vgetrandom(&cookie, 8, GRND_TIMESTAMP,
  // NULL, 0) with timestamp()'s answers; nullptr otherwise. Async-signal-safe.
  // The draws' inline lane calls it directly (lib/thread_state.h).
  VdsoGetrandomFn vgetrandom;
  // Reads the generation through a minimal kernel call; false when unknown.
  bool (*generation)(uint64_t *generation);
  // Releases what the calling thread holds (its vDSO state); the thread is exiting.
  void (*thread_exit)();
};

}  // namespace grndpool::kernel
