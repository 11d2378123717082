// SPDX-License-Identifier: Apache-2.0
// Fault injectors for faults_test, installed through the library's seams
// (kernel::SetSyscallSeamForTesting, SetMemoryOpsForTesting) before the first
// draw: getrandom errors and short reads, a missing or misbehaving vDSO, and
// mmap or mlock failures. Each injector counts what it did, so a test can tell
// that the fault really happened.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lib/kernel/kernel_ops.h"
#include "lib/kernel/syscall.h"
#include "lib/kernel/uapi.h"
#include "lib/slab_segment.h"

namespace grndpool::test {

enum class GetrandomFault : uint8_t {
  kNone,
  kEintrAlternate,   // every other call on a thread: -EINTR
  kEagainAlternate,  // every other call on a thread: -EAGAIN
  kEintrAlways,      // the bounded retries must end (in /dev/urandom)
  kError,            // always -g_getrandom_errno (ENOSYS, EPERM, EFAULT)
  kShortReads,       // 1..7 bytes per call
};
enum class VdsoFault : uint8_t {
  kReal,
  kAbsent,        // find_vdso answers nullptr
  kStateSize160,  // the params query reports a 160-byte state (the real one is 144)
  kEnosys,        // every fill answers -ENOSYS (its own fallback syscall denied)
  kEintrAlways,   // every fill answers -EINTR
  // The state keeps its 144 bytes but no longer holds the generation at
  // offset 128 (a later kernel moved it): key bytes lie there instead.
  kLayoutMoved,
};

inline GetrandomFault g_getrandom_fault = GetrandomFault::kNone;
inline int g_getrandom_errno = 0;
inline VdsoFault g_vdso_fault = VdsoFault::kReal;
// mmap calls numbered from 1 in [g_map_fail_from, g_map_fail_to] fail (ENOMEM).
inline int g_map_fail_from = INT_MAX, g_map_fail_to = INT_MAX;
inline bool g_lock_fails = false;

// What the injectors did.
inline std::atomic<uint64_t> g_injected_errors{0};
inline std::atomic<uint64_t> g_short_reads{0};
inline std::atomic<uint64_t> g_vdso_wrong_state_len{0};  // fills passing a length we did not report
inline std::atomic<uint64_t> g_layout_overwrites{0};     // states kLayoutMoved wrote over
inline std::atomic<int> g_map_calls{0};
inline std::atomic<uint64_t> g_failed_maps{0};
inline std::atomic<uint64_t> g_failed_locks{0};

inline kernel::SyscallSeam g_real_seam{};
inline kernel::VdsoGetrandomFn g_real_vdso = nullptr;
constexpr uint32_t kFakeStateSize = 160;

inline long RealGetrandom(void *buf, size_t len, unsigned flags) {
  const long ret = syscall(SYS_getrandom, buf, len, flags);
  return ret < 0 ? -errno : ret;
}

inline long FaultyGetrandom(void *buf, size_t len, unsigned flags) {
  thread_local uint64_t calls = 0;
  const bool odd = (calls++ & 1) == 0;
  switch (g_getrandom_fault) {
    case GetrandomFault::kNone:
      break;
    case GetrandomFault::kEintrAlternate:
    case GetrandomFault::kEagainAlternate:
      if (!odd) break;
      g_injected_errors.fetch_add(1);
      return g_getrandom_fault == GetrandomFault::kEintrAlternate ? -EINTR : -EAGAIN;
    case GetrandomFault::kEintrAlways:
      g_injected_errors.fetch_add(1);
      return -EINTR;
    case GetrandomFault::kError:
      g_injected_errors.fetch_add(1);
      return -g_getrandom_errno;
    case GetrandomFault::kShortReads: {
      const size_t most = 1 + calls % 7;
      if (len > most) {
        len = most;
        g_short_reads.fetch_add(1);
      }
      break;
    }
  }
  return g_real_seam.getrandom(buf, len, flags);
}

// Stands in for __vdso_getrandom; forwards to the real one (Linux >= 6.11).
inline long FaultyVdso(void *buf, size_t len, unsigned flags, void *state, size_t state_len) {
  if (state_len == ~0UL) {  // the params query
    const long ret = g_real_vdso(buf, len, flags, state, state_len);
    if (ret == 0 && g_vdso_fault == VdsoFault::kStateSize160)
      static_cast<kernel::VgetrandomOpaqueParams *>(state)->size_of_opaque_state = kFakeStateSize;
    return ret;
  }
  if (flags != 0) return g_real_vdso(buf, len, flags, state, state_len);  // GRND_TIMESTAMP probe
  switch (g_vdso_fault) {
    case VdsoFault::kStateSize160:
      // A kernel whose state is 160 bytes falls back to the syscall when it is
      // handed another length; the real state is smaller, so it fits the slot.
      if (state_len != kFakeStateSize) {
        g_vdso_wrong_state_len.fetch_add(1);
        return RealGetrandom(buf, len, flags);
      }
      return g_real_vdso(buf, len, flags, state, kernel::kKnownStateSize);
    case VdsoFault::kEnosys:
      g_injected_errors.fetch_add(1);
      return -ENOSYS;
    case VdsoFault::kEintrAlways:
      g_injected_errors.fetch_add(1);
      return -EINTR;
    case VdsoFault::kLayoutMoved: {
      const long ret = g_real_vdso(buf, len, flags, state, state_len);
      if (state != nullptr && state_len >= kernel::kStateGenerationOffset + 8) {
        uint64_t noise;
        (void)RealGetrandom(&noise, sizeof noise, 0);
        memcpy(static_cast<char *>(state) + kernel::kStateGenerationOffset, &noise, sizeof noise);
        g_layout_overwrites.fetch_add(1);
      }
      return ret;
    }
    default:
      return g_real_vdso(buf, len, flags, state, state_len);
  }
}

inline void *FaultyFindVdso(const char *name, const char *version) {
  if (g_vdso_fault == VdsoFault::kAbsent) return nullptr;
  void *real = g_real_seam.find_vdso(name, version);
  if (g_vdso_fault == VdsoFault::kReal || real == nullptr) return real;
  g_real_vdso = reinterpret_cast<kernel::VdsoGetrandomFn>(real);
  return reinterpret_cast<void *>(&FaultyVdso);
}

inline void *FaultyMap(size_t bytes, int prot, int flags) {
  const int call = g_map_calls.fetch_add(1) + 1;
  if (call >= g_map_fail_from && call <= g_map_fail_to) {
    g_failed_maps.fetch_add(1);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return DefaultMemoryOps().map(bytes, prot, flags);
}
inline int FaultyLock(void *addr, size_t bytes) {
  if (g_lock_fails) {
    g_failed_locks.fetch_add(1);
    errno = EPERM;
    return -1;
  }
  return DefaultMemoryOps().lock(addr, bytes);
}

// Puts the injectors behind both seams. Before the first draw only.
inline void InstallFaultSeams() {
  g_real_seam = kernel::Seam();
  static const kernel::SyscallSeam seam{FaultyGetrandom, FaultyFindVdso};
  kernel::SetSyscallSeamForTesting(&seam);
  static const MemoryOps memory{FaultyMap, DefaultMemoryOps().unmap, DefaultMemoryOps().advise,
                                FaultyLock};
  SetMemoryOpsForTesting(&memory);
}

}  // namespace grndpool::test
