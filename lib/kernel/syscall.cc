// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <linux/random.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "lib/kernel/syscall.h"
#include "lib/kernel/vdso_symbol.h"

namespace grndpool::kernel {

std::atomic<uint64_t> g_faults{0};
std::atomic<uint64_t> g_urandom_fills{0};

namespace {

long RealGetrandom(void *buf, size_t len, unsigned flags) {
  long ret = syscall(SYS_getrandom, buf, len, flags);
  return ret < 0 ? -errno : ret;
}

const SyscallSeam kRealSeam{RealGetrandom, FindVdsoFunction};
const SyscallSeam *g_seam = &kRealSeam;

// Where getrandom(2) is missing or denied. Plain syscalls only: async-signal-safe.
void UrandomFill(unsigned char *out, size_t len) {
  g_urandom_fills.fetch_add(1, std::memory_order_relaxed);
  int fd;
  do fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  while (len > 0 && fd >= 0) {
    ssize_t got = read(fd, out, len);
    if (got > 0) {
      out += got;
      len -= static_cast<size_t>(got);
    } else if (got < 0 && errno != EINTR) {
      break;
    }
  }
  if (fd >= 0) close(fd);
  // No kernel randomness at all: there is nothing safe to return, and a draw must
  // never hand out predictable bytes, so stop the process loudly.
  if (len > 0) {
    static const char msg[] =
        "grndpool: no kernel randomness (getrandom and /dev/urandom failed)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
}

// EINTR and EAGAIN are retried, but not forever: a filter or an emulator that
// answers only these would otherwise hang the draw.
constexpr int kMaxRetries = 100;

}  // namespace

long SyscallGetrandom(void *buf, size_t len, unsigned flags) {
  return g_seam->getrandom(buf, len, flags);
}

FillPath SyscallFill(void *buf, size_t len) {
  auto *out = static_cast<unsigned char *>(buf);
  const int saved_errno = errno;
  int retries = 0;
  FillPath path = FillPath::kSyscall;
  while (len > 0) {
    long got = SyscallGetrandom(out, len, 0);
    if (got > 0) {
      out += got;
      len -= static_cast<size_t>(got);
      continue;
    }
    g_faults.fetch_add(1, std::memory_order_relaxed);
    if ((got == -EINTR || got == -EAGAIN) && ++retries < kMaxRetries) {
      if (got == -EAGAIN) sched_yield();
      continue;
    }
    UrandomFill(out, len);
    path = FillPath::kUrandom;
    break;
  }
  errno = saved_errno;
  return path;
}

void SetSyscallSeamForTesting(const SyscallSeam *seam) {
  g_seam = seam != nullptr ? seam : &kRealSeam;
}

const SyscallSeam &Seam() {
  return *g_seam;
}

int ForceKernelReseed() {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int ret = ioctl(fd, RNDRESEEDCRNG) == 0 ? 0 : -errno;
  close(fd);
  return ret;
}

}  // namespace grndpool::kernel
