// SPDX-License-Identifier: Apache-2.0
// The seam between grndpool and the kernel. Everything that talks to the kernel
// sits behind KernelOps, so tests can put kernel/emu in its place.
#pragma once

#include <atomic>
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

struct KernelOps {
  const char *name;
  GenerationMode mode;
  // Fills buf with len kernel random bytes. Never fails; may sleep only while the
  // kernel CRNG is not yet initialised.
  void (*fill)(void *buf, size_t len);
  // GRND_TIMESTAMP: 0 if *cookie is current, 8 after storing the current cookie,
  // a negative errno where unsupported. Used when mode == kPerDraw.
  long (*timestamp)(uint64_t *cookie);
  // Reads the generation through a minimal kernel call; false when unknown.
  bool (*generation)(uint64_t *generation);
  // Releases what the calling thread holds (its vDSO state); the thread is exiting.
  void (*thread_exit)();
};

// getrandom(2) until len bytes arrived, retrying EINTR/EAGAIN (a bounded number
// of times) and short reads; /dev/urandom where the syscall is missing or denied
// (ENOSYS, EPERM from seccomp, or anything else). Never fails; async-signal-safe.
// Only when both are unavailable does it end the process (status 127): there is
// no safe byte to return then.
void SyscallFill(void *buf, size_t len);

// Raw getrandom(2) with the given flags, through the seam; the result or -errno.
long SyscallGetrandom(void *buf, size_t len, unsigned flags);

// The raw calls under everything above, replaceable by tests to inject faults.
struct SyscallSeam {
  long (*getrandom)(void *buf, size_t len, unsigned flags);   // result or -errno
  void *(*find_vdso)(const char *name, const char *version);  // nullptr: absent
};
// Tests only: must precede the first draw. nullptr restores the real calls.
void SetSyscallSeamForTesting(const SyscallSeam *seam);
const SyscallSeam &Seam();

// Errors seen from getrandom or the vDSO (each retried or routed elsewhere), and
// fills that /dev/urandom served. Read by the stats.
extern std::atomic<uint64_t> g_faults;
extern std::atomic<uint64_t> g_urandom_fills;

// ioctl(RNDRESEEDCRNG) on /dev/urandom: forces the kernel CRNG to reseed (root).
// Returns 0 or -errno.
int ForceKernelReseed();

}  // namespace grndpool::kernel
