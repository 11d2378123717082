/* SPDX-License-Identifier: Apache-2.0 */
/* Checks the arc4random drop-in as an interposer. Run with
 *   LD_PRELOAD=/path/to/libgrndpool-arc4random.so arc4random_test
 * This program is NOT linked against the drop-in: it calls glibc's arc4random, so
 * the calls only reach grndpool if the preload took effect. Exits non-zero on any
 * failure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat/compat_check.h"

int main(void) {
  /* 1. Symbol resolution: all three names must come from the drop-in. */
  check(defined_in_dropin((void *)&arc4random, "arc4random"), "arc4random is ours");
  check(defined_in_dropin((void *)&arc4random_buf, "arc4random_buf"), "arc4random_buf is ours");
  check(defined_in_dropin((void *)&arc4random_uniform, "arc4random_uniform"),
        "arc4random_uniform is ours");

  /* 2. Values look random: 4096 words hit every bit both ways, have no repeats
   *    among neighbours, and have a plausible population count (mean 16 bits/word,
   *    sd ~ 0.18 over 4096 words; the bounds are > 20 sd away). */
  enum { kWords = 4096 };
  uint32_t or_bits = 0, and_bits = UINT32_MAX, prev = arc4random();
  uint64_t ones = 0;
  int repeats = 0;
  for (int i = 0; i < kWords; ++i) {
    uint32_t v = arc4random();
    or_bits |= v;
    and_bits &= v;
    ones += (uint64_t)__builtin_popcount(v);
    repeats += v == prev;
    prev = v;
  }
  check(or_bits == UINT32_MAX && and_bits == 0, "every bit takes both values");
  check(repeats == 0, "no consecutive repeats");
  check(ones > 15 * kWords && ones < 17 * kWords, "bit balance");

  /* 3. arc4random_buf fills the whole buffer (no all-zero 16-byte block). */
  unsigned char buf[1024];
  memset(buf, 0, sizeof buf);
  arc4random_buf(buf, sizeof buf);
  for (size_t off = 0; off < sizeof buf; off += 16) {
    static const unsigned char zero[16];
    check(memcmp(buf + off, zero, 16) != 0, "arc4random_buf block is non-zero");
  }

  /* 4. arc4random_uniform stays in range and covers it; n < 2 gives 0. */
  int seen[10] = {0};
  for (int i = 0; i < 2000; ++i) {
    uint32_t v = arc4random_uniform(10);
    check(v < 10, "arc4random_uniform(10) < 10");
    if (v < 10) seen[v]++;
  }
  for (int i = 0; i < 10; ++i) check(seen[i] > 100, "arc4random_uniform covers [0, 10)");
  check(arc4random_uniform(0) == 0 && arc4random_uniform(1) == 0, "uniform(0|1) == 0");

  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("arc4random drop-in: all checks passed\n");
  return failures ? 1 : 0;
}
