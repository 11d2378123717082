// The seam between grndpool and the kernel. Everything that talks to the kernel
// sits behind KernelOps, so tests can put kernel/emu in its place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grndpool::kernel {

// The seed's flag: the buffer holds a u64 cookie, ~generation of the base CRNG.
inline constexpr unsigned kGrndTimestamp = 0x0008;

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

// getrandom(2) until len bytes arrived, retrying EINTR/EAGAIN and short reads,
// with /dev/urandom where the syscall does not exist. Never fails.
void SyscallFill(void *buf, size_t len);

// Raw getrandom(2) with the given flags; returns the result or -errno.
long SyscallGetrandom(void *buf, size_t len, unsigned flags);

// ioctl(RNDRESEEDCRNG) on /dev/urandom: forces the kernel CRNG to reseed (root).
// Returns 0 or -errno.
int ForceKernelReseed();

}  // namespace grndpool::kernel
