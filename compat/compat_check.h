/* SPDX-License-Identifier: Apache-2.0 */
/* What the drop-in's test programs share: a check that prints one line when
 * it fails and is counted, and where a function comes from. Included by one
 * .c file per program (static definitions); _GNU_SOURCE before it. */
#pragma once

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
  }
}

/* Prints which object defines the function at addr (by file name); true when
 * it is the drop-in. */
static int defined_in_dropin(void *addr, const char *name) {
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) {
    fprintf(stderr, "%s: dladdr failed\n", name);
    return 0;
  }
  printf("%s -> %s\n", name, info.dli_fname);
  return strstr(info.dli_fname, "libgrndpool-arc4random") != NULL;
}
