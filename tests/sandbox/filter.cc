/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/sandbox/filter.h"

#include <cerrno>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/kernel/uapi.h"

#define MAX_DENIES 16

typedef struct {
  char name[64];
  int err;
} Deny;

static int ParseErrno(const char *s) {
  if (strcmp(s, "EPERM") == 0) return EPERM;
  if (strcmp(s, "ENOSYS") == 0) return ENOSYS;
  if (strcmp(s, "EACCES") == 0) return EACCES;
  char *end;
  long v = strtol(s, &end, 10);
  return (*s != '\0' && *end == '\0' && v > 0 && v < 4096) ? (int)v : -1;
}

/* The raw call, made after the filter is loaded; 0 when it failed with `err`. */
static int Probe(const Deny *d) {
  const long page = sysconf(_SC_PAGESIZE);
  char buf[1];
  errno = 0;
  long r = 0;
  if (strcmp(d->name, "getrandom") == 0) {
    r = syscall(SYS_getrandom, buf, 1, 0);
  } else if (strcmp(d->name, "mmap-droppable") == 0) {
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                   grndpool::kernel::kMapDroppable | MAP_ANONYMOUS, -1, 0);
    r = p == MAP_FAILED ? -1 : 0;
    if (p != MAP_FAILED) munmap(p, (size_t)page);
    // A plain mapping still works: the rule looks at the flags.
    void *q = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) return fprintf(stderr, "sandbox: plain mmap refused too\n"), -1;
    munmap(q, (size_t)page);
    errno = r == -1 ? d->err : 0;
  } else if (strcmp(d->name, "madvise") == 0 || strcmp(d->name, "mlock") == 0) {
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r = d->name[1] == 'a' ? madvise(p, (size_t)page, MADV_DONTDUMP) : mlock(p, (size_t)page);
    const int e = errno;
    munmap(p, (size_t)page);
    errno = e;
  } else if (strcmp(d->name, "openat") == 0 || strcmp(d->name, "open") == 0) {
    int fd = open("/dev/null", O_RDONLY);
    r = fd;
    if (fd >= 0) close(fd);
  } else {
    return 0;  // no probe for this one: libseccomp already resolved the name
  }
  if (r == -1 && errno == d->err) return 0;
  fprintf(stderr, "sandbox: the filter does not refuse %s with errno %d (got %ld, errno %d)\n",
          d->name, d->err, r, errno);
  return -1;
}

static int AddDeny(scmp_filter_ctx ctx, const Deny *d) {
  if (strcmp(d->name, "mmap-droppable") == 0)
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<unsigned>(d->err)), SCMP_SYS(mmap), 1,
                            SCMP_A3(SCMP_CMP_MASKED_EQ, grndpool::kernel::kMapDroppable,
                                    grndpool::kernel::kMapDroppable));
  const int nr = seccomp_syscall_resolve_name(d->name);
  if (nr == __NR_SCMP_ERROR) return -EINVAL;
  return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<unsigned>(d->err)), nr, 0);
}

int SandboxApply(int argc, char **argv) {
  Deny denies[MAX_DENIES], expects[MAX_DENIES];
  int ndeny = 0, nexpect = 0;
  const char *allow_file = NULL;
  uint32_t fallback = SCMP_ACT_ALLOW;
  int i = 1;
  for (; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      ++i;
      break;
    }
    if (i + 1 >= argc) break;
    if (strcmp(argv[i], "--deny") == 0 || strcmp(argv[i], "--expect") == 0) {
      const bool deny = argv[i][2] == 'd';
      Deny *d = deny ? &denies[ndeny] : &expects[nexpect];
      const char *colon = strrchr(argv[i + 1], ':');
      const int err = colon != NULL ? ParseErrno(colon + 1) : -1;
      if (colon == NULL || err < 0 || (deny ? ndeny : nexpect) == MAX_DENIES ||
          (size_t)(colon - argv[i + 1]) >= sizeof d->name) {
        fprintf(stderr, "sandbox: bad %s '%s' (want NAME:EPERM|ENOSYS|number)\n", argv[i],
                argv[i + 1]);
        return -1;
      }
      memcpy(d->name, argv[i + 1], (size_t)(colon - argv[i + 1]));
      d->name[colon - argv[i + 1]] = '\0';
      d->err = err;
      ++(deny ? ndeny : nexpect);
    } else if (strcmp(argv[i], "--allow-file") == 0) {
      allow_file = argv[i + 1];
    } else if (strcmp(argv[i], "--default") == 0) {
      const int err = ParseErrno(argv[i + 1]);
      if (strcmp(argv[i + 1], "kill") == 0) {
        fallback = SCMP_ACT_KILL_PROCESS;
      } else if (err > 0) {
        fallback = SCMP_ACT_ERRNO(static_cast<unsigned>(err));
      } else {
        fprintf(stderr, "sandbox: bad --default '%s' (want kill, EPERM, ENOSYS or a number)\n",
                argv[i + 1]);
        return -1;
      }
    } else {
      break;
    }
    ++i;
  }
  if (allow_file == NULL && fallback != SCMP_ACT_ALLOW) {
    fprintf(stderr, "sandbox: --default needs --allow-file\n");
    return -1;
  }
  scmp_filter_ctx ctx = seccomp_init(allow_file != NULL ? fallback : SCMP_ACT_ALLOW);
  if (ctx == NULL) return fprintf(stderr, "sandbox: seccomp_init failed\n"), -1;
  if (allow_file != NULL) {
    FILE *f = fopen(allow_file, "r");
    if (f == NULL) return fprintf(stderr, "sandbox: cannot read %s\n", allow_file), -1;
    char line[128];
    int allowed = 0, unknown = 0;
    while (fgets(line, sizeof line, f) != NULL) {
      line[strcspn(line, "\r\n")] = '\0';
      if (line[0] == '\0' || line[0] == '#') continue;
      const int nr = seccomp_syscall_resolve_name(line);
      // Names of other architectures (arm_fadvise64_64, ...) do not exist here.
      if (nr < 0 || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
        ++unknown;
        continue;
      }
      ++allowed;
    }
    fclose(f);
    fprintf(stderr, "sandbox: %d syscalls allowed (%d names not on this architecture)\n", allowed,
            unknown);
  }
  for (int d = 0; d < ndeny; ++d) {
    if (AddDeny(ctx, &denies[d]) != 0) {
      fprintf(stderr, "sandbox: cannot add a rule for '%s'\n", denies[d].name);
      seccomp_release(ctx);
      return -1;
    }
  }
  const int rc = seccomp_load(ctx);  // sets no_new_privs first (libseccomp's default)
  seccomp_release(ctx);
  if (rc != 0) return fprintf(stderr, "sandbox: seccomp_load: %s\n", strerror(-rc)), -1;
  for (int d = 0; d < ndeny; ++d)
    if (Probe(&denies[d]) != 0) return -1;
  for (int d = 0; d < nexpect; ++d)
    if (Probe(&expects[d]) != 0) return -1;
  return i;
}
