/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a program under a seccomp filter, as systemd does for a unit with
 * SystemCallFilter=: the filter is installed before exec, so the dynamic
 * loader and the program's start-up run under it too.
 *
 *   sandbox_exec [filter options (filter.h)] -- PROGRAM [ARGS...] */
#include <stdio.h>
#include <unistd.h>

#include "tests/sandbox/filter.h"

int main(int argc, char **argv) {
  const int first = SandboxApply(argc, argv);
  if (first < 0) return 125;
  if (first >= argc) {
    fprintf(stderr,
            "usage: sandbox_exec [--deny NAME:ERRNO] [--allow-file F --default E|kill] -- PROGRAM "
            "[ARGS]\n");
    return 125;
  }
  execvp(argv[first], argv + first);
  perror("sandbox_exec: exec");
  return 126;
}
