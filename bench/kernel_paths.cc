// SPDX-License-Identifier: Apache-2.0
#include "kernel_paths.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lib/kernel/vdso_names.h"
#include "lib/kernel/vdso_symbol.h"

namespace grndpool_bench {
namespace {

// struct vgetrandom_opaque_params of the uapi (Linux >= 6.11).
struct OpaqueParams {
  uint32_t size_of_opaque_state;
  uint32_t mmap_prot;
  uint32_t mmap_flags;
  uint32_t reserved[13];
};

}  // namespace

void SyscallFill(void *out, size_t n) {
  auto *p = static_cast<unsigned char *>(out);
  while (n > 0) {
    long got = syscall(SYS_getrandom, p, n, 0);
    if (got > 0) {
      p += got;
      n -= static_cast<size_t>(got);
    } else if (errno != EINTR && errno != EAGAIN) {
      perror("getrandom");
      abort();
    }
  }
}

long SyscallTimestamp(uint64_t *cookie) {
  long ret = syscall(SYS_getrandom, cookie, sizeof *cookie, kGrndTimestamp);
  return ret < 0 ? -errno : ret;
}

VdsoGetrandom::VdsoGetrandom() {
  // This architecture's name for the entry (lib/kernel/vdso_names.h).
  names_ = grndpool::kernel::NativeVdsoNames();
  if (names_ == nullptr || !names_->c_callable) return;
  fn_ =
      reinterpret_cast<Fn>(grndpool::kernel::FindVdsoFunction(names_->getrandom, names_->version));
  if (fn_ == nullptr) return;
  // Linux >= 6.11 answers (NULL, 0, 0, &params, ~0UL) with the state's size and
  // how to map it; the seed's 3-argument entry reads it as getrandom(NULL, 0, 0).
  OpaqueParams params{};
  if (fn_(nullptr, 0, 0, &params, ~0UL) != 0 || params.size_of_opaque_state == 0) return;
  // A whole page, so the state cannot straddle a page boundary.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mapped_len_ = (params.size_of_opaque_state + page - 1) / page * page;
  void *p = mmap(nullptr, mapped_len_, static_cast<int>(params.mmap_prot),
                 static_cast<int>(params.mmap_flags), -1, 0);
  if (p == MAP_FAILED) return;
  state_ = p;
  state_len_ = params.size_of_opaque_state;
}

VdsoGetrandom::~VdsoGetrandom() {
  if (state_ != nullptr) munmap(state_, mapped_len_);
}

std::string VdsoGetrandom::description() const {
  if (names_ == nullptr)
    return "no getrandom() in vDSO (an architecture vdso_names.h does not know)";
  char line[256];
  if (!available()) {
    snprintf(line, sizeof line, "no getrandom() in vDSO (%s@%s %s)", names_->getrandom,
             names_->version,
             names_->c_callable ? "not exported" : "exported, but not callable as a C function");
    return line;
  }
  snprintf(line, sizeof line, "found getrandom() in vDSO at %p (%s %s@%s, %s)", address(),
           names_->arch, names_->getrandom, names_->version,
           has_state() ? "Linux >= 6.11 entry, per-thread opaque state"
                       : "no opaque state: the vDSO falls back to the syscall");
  return line;
}

void VdsoGetrandom::Fill(void *out, size_t n) {
  auto *p = static_cast<unsigned char *>(out);
  while (n > 0) {
    long got = fn_(p, n, 0, state_, state_len_);
    if (got > 0) {
      p += got;
      n -= static_cast<size_t>(got);
    } else if (got != -EINTR && got != -EAGAIN) {
      SyscallFill(p, n);  // the vDSO returns -errno; never hand back fewer bytes
      return;
    }
  }
}

long VdsoGetrandom::Timestamp(uint64_t *cookie) {
  return fn_(cookie, sizeof *cookie, kGrndTimestamp, nullptr, 0);
}

}  // namespace grndpool_bench
