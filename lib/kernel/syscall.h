// SPDX-License-Identifier: Apache-2.0
// The raw kernel calls under every source: getrandom(2) with its fallbacks,
// the seam tests use to inject faults, and the forced reseed (root).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lib/kernel/kernel_ops.h"

namespace grndpool::kernel {

// getrandom(2) until len bytes arrived, retrying EINTR/EAGAIN (a bounded number
// of times) and short reads; /dev/urandom where the syscall is missing or denied
// (ENOSYS, EPERM from seccomp, or anything else). Never fails; async-signal-safe.
// Only when both are unavailable does it end the process (status 127): there is
// no safe byte to return then. Returns kUrandom when /dev/urandom served any
// of it, else kSyscall.
FillPath SyscallFill(void *buf, size_t len);

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
