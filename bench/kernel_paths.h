// SPDX-License-Identifier: Apache-2.0
// The kernel paths the seed's table compares, called directly (no grndpool in
// between): getrandom(2), the vDSO getrandom with a per-thread opaque state, and
// the GRND_TIMESTAMP generation query through either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/kernel/vdso_names.h"

namespace grndpool_bench {

// The seed's flag: buffer = u64 cookie (~generation); returns 0 when the cookie
// is current, 8 after writing a new one, -EINVAL on kernels without it.
inline constexpr unsigned kGrndTimestamp = 0x0008;

// getrandom(2) until n bytes arrived.
void SyscallFill(void *out, size_t n);
// GRND_TIMESTAMP through the syscall; the result or -errno.
long SyscallTimestamp(uint64_t *cookie);

// The vDSO getrandom of this process, found by parsing the vDSO image.
class VdsoGetrandom {
 public:
  // Looks up this architecture's vDSO getrandom (lib/kernel/vdso_names.h:
  // __vdso_getrandom@LINUX_2.6 on x86_64, __kernel_getrandom@LINUX_2.6.39 on
  // arm64, ...) and maps one opaque state for the calling thread. available()
  // is false when the vDSO has no getrandom.
  VdsoGetrandom();
  ~VdsoGetrandom();
  VdsoGetrandom(const VdsoGetrandom &) = delete;
  VdsoGetrandom &operator=(const VdsoGetrandom &) = delete;

  bool available() const { return fn_ != nullptr; }
  // False for the seed's 3-argument entry (or a query failure): then every
  // fill passes no state and the vDSO falls back to the syscall itself.
  bool has_state() const { return state_ != nullptr; }
  const void *address() const { return reinterpret_cast<const void *>(fn_); }
  std::string description() const;

  // Fills out with n bytes through the vDSO (its own syscall fallback included).
  // Only for the thread that constructed this object: the state is not shared.
  void Fill(void *out, size_t n);
  // GRND_TIMESTAMP through the vDSO; the result or -errno.
  long Timestamp(uint64_t *cookie);

 private:
  using Fn = long (*)(void *, size_t, unsigned, void *, size_t);
  const grndpool_vdso_names *names_ = nullptr;  // this architecture's row, or nullptr
  Fn fn_ = nullptr;
  void *state_ = nullptr;
  size_t state_len_ = 0;
  size_t mapped_len_ = 0;
};

// The seed's probe: a zero cookie is never current, so a supporting kernel
// answers 8.
template <class Call>
bool TimestampSupported(Call call) {
  uint64_t cookie = 0;
  return call(&cookie) == 8;
}

}  // namespace grndpool_bench
