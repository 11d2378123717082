// SPDX-License-Identifier: Apache-2.0
// A fresh process that denies itself getrandom(2) with a seccomp BPF filter
// before its first draw, then draws across forced kernel reseeds
// (ioctl RNDRESEEDCRNG, root). seccomp_test runs it once per errno.
//
//   seccomp_child enosys|eperm|eintr|eagain    exit 0 when every check passed
//
// Under the filter the vDSO's own fallback syscall is denied too, so the
// library cannot read the kernel's generation: every refill must then take a
// fresh kernel key (from /dev/urandom), and grndpool_describe() must say that
// the generation is unknown or unreadable. Public API only, so the same file
// builds against older libraries.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/random.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"

namespace {

// getrandom answers -errno; every other syscall is allowed. Other
// architectures (x32, i386 through int 0x80) are left alone.
bool DenyGetrandom(int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getrandom, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

struct grndpool_stats Stats() {
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
#ifdef GRNDPOOL_STATS_VERSION
  s.size = sizeof s;
#endif
  grndpool_get_stats(&s);
  return s;
}

int ForceReseed(int fd) {
  return ioctl(fd, RNDRESEEDCRNG) == 0 ? 0 : errno;
}

// Draws `words` u64 one at a time (small draws cross refills: a default slice
// serves 960 bytes) and one 4 KiB buffer, appending all of it to *out.
void Draw(std::vector<uint64_t> *out, size_t words) {
  for (size_t i = 0; i < words; ++i) out->push_back(grndpool_u64());
  uint64_t big[512];
  grndpool_buf(big, sizeof big);
  out->insert(out->end(), big, big + 512);
}

}  // namespace

int main(int argc, char **argv) {
  int err = 0;
  if (argc == 2 && strcmp(argv[1], "enosys") == 0) err = ENOSYS;
  if (argc == 2 && strcmp(argv[1], "eperm") == 0) err = EPERM;
  if (argc == 2 && strcmp(argv[1], "eintr") == 0) err = EINTR;
  if (argc == 2 && strcmp(argv[1], "eagain") == 0) err = EAGAIN;
  if (err == 0) {
    fprintf(stderr, "usage: seccomp_child enosys|eperm|eintr|eagain\n");
    return 2;
  }
  const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (urandom < 0 || !DenyGetrandom(err)) {
    perror("seccomp_child: setup");
    return 2;
  }
  // The filter works: the raw syscall is denied with the chosen errno.
  char probe;
  if (syscall(SYS_getrandom, &probe, 1, 0) != -1 || errno != err) {
    fprintf(stderr, "seccomp_child: the filter does not deny getrandom\n");
    return 2;
  }

  std::vector<uint64_t> words;
  Draw(&words, 1000);
  int reseeds = 0, reseed_error = 0;
  for (int round = 0; round < 3; ++round) {
    const int e = ForceReseed(urandom);
    if (e == 0)
      ++reseeds;
    else
      reseed_error = e;
    // This thread and two others draw after each reseed, each across several refills.
    std::vector<uint64_t> a, b;
    std::thread ta([&] { Draw(&a, 1000); }), tb([&] { Draw(&b, 1000); });
    Draw(&words, 1000);
    ta.join();
    tb.join();
    words.insert(words.end(), a.begin(), a.end());
    words.insert(words.end(), b.begin(), b.end());
  }
  const struct grndpool_stats s = Stats();
  const char *describe = grndpool_describe();

  const size_t zeros = static_cast<size_t>(std::count(words.begin(), words.end(), 0u));
  std::sort(words.begin(), words.end());
  const bool repeats = std::adjacent_find(words.begin(), words.end()) != words.end();
  const bool says_unknown =
      strstr(describe, "unknown") != nullptr || strstr(describe, "unreadable") != nullptr;
  printf("seccomp_child %s: %zu words, %zu zero, repeats=%d, reseeds=%d (error %d)\n", argv[1],
         words.size(), zeros, repeats, reseeds, reseed_error);
  printf("refills=%llu rekeys=%llu generation_changes=%llu", (unsigned long long)s.refills,
         (unsigned long long)s.rekeys, (unsigned long long)s.generation_changes);
#ifdef GRNDPOOL_STATS_VERSION
  printf(" generation_unknown=%llu kernel_faults=%llu urandom_fallbacks=%llu",
         (unsigned long long)s.generation_unknown, (unsigned long long)s.kernel_faults,
         (unsigned long long)s.urandom_fallbacks);
#endif
  printf("\n%s\n", describe);

  bool ok = true;
  auto check = [&](bool cond, const char *what) {
    if (!cond) printf("FAIL: %s\n", what);
    ok = ok && cond;
  };
  check(zeros == 0, "a draw returned an all-zero word");
  check(!repeats, "a word was served twice");
  check(reseeds == 3, "ioctl(RNDRESEEDCRNG) failed (root needed)");
  // Every refill happened under the filter, so each must have rekeyed from the kernel.
  check(s.refills >= 12, "the draws did not cross several refills");
  check(s.rekeys >= s.refills, "a refill reused a key chain: rekeys < refills");
#ifdef GRNDPOOL_STATS_VERSION
  check(s.generation_unknown > 0, "generation_unknown not counted");
  check(s.urandom_fallbacks > 0, "urandom_fallbacks not counted");
  check(s.kernel_faults > 0, "kernel_faults not counted");
#endif
  check(says_unknown, "describe does not say the generation is unknown or unreadable");
  printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
