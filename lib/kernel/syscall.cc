#include <fcntl.h>
#include <linux/random.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "kernel_ops.h"

namespace grndpool::kernel {

long SyscallGetrandom(void *buf, size_t len, unsigned flags) {
  long ret = syscall(SYS_getrandom, buf, len, flags);
  return ret < 0 ? -errno : ret;
}

namespace {

// Used only where getrandom(2) is missing (Linux < 3.17 or a seccomp filter).
void UrandomFill(unsigned char *out, size_t len) {
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

}  // namespace

void SyscallFill(void *buf, size_t len) {
  auto *out = static_cast<unsigned char *>(buf);
  const int saved_errno = errno;
  while (len > 0) {
    long got = SyscallGetrandom(out, len, 0);
    if (got > 0) {
      out += got;
      len -= static_cast<size_t>(got);
    } else if (got == -EAGAIN) {
      sched_yield();
    } else if (got != -EINTR) {
      UrandomFill(out, len);
      break;
    }
  }
  errno = saved_errno;
}

int ForceKernelReseed() {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int ret = ioctl(fd, RNDRESEEDCRNG) == 0 ? 0 : -errno;
  close(fd);
  return ret;
}

}  // namespace grndpool::kernel
