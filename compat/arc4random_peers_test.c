/* SPDX-License-Identifier: Apache-2.0 */
/* What other projects' own arc4random tests check, written anew and run
 * against the drop-in, linked and preloaded:
 *   - fork from one thread while others make their (first) draws: every child
 *     draws, nothing it draws is also the parent's (glibc tst-arc4random-thread);
 *   - fork with a partly used buffer: parent and child go on drawing, and no
 *     16-byte block of one is in the other (OpenBSD/LibreSSL arc4random-fork);
 *   - arc4random_uniform: chi-square over small bounds, and no modulo bias
 *     where it would be largest, just above 2^31 (FreeBSD, NetBSD, glibc).
 * Exits 0 when every check held; each failure prints one line. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compat/compat_check.h"

static int cmp_block(const void *a, const void *b) {
  return memcmp(a, b, 16);
}

/* True when some 16-byte block appears twice among `n` blocks (sorted in place). */
static int any_repeat(unsigned char (*blocks)[16], size_t n) {
  qsort(blocks, n, 16, cmp_block);
  for (size_t i = 1; i < n; ++i)
    if (memcmp(blocks[i - 1], blocks[i], 16) == 0) return 1;
  return 0;
}

static int wait_child(pid_t pid, int seconds) {
  int status = 0;
  for (int ms = 0; ms < seconds * 1000; ++ms) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (got < 0 && errno != EINTR) return -2;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1; /* hung */
}

/* ---- 1. fork while other threads make their first draws ----------------- */

enum { kDrawers = 4, kForks = 40, kChildBlocks = 64 };
static _Atomic int g_stop;

static void *drawer(void *arg) {
  unsigned char b[16];
  (void)arg;
  while (!g_stop) arc4random_buf(b, sizeof b);
  return NULL;
}

static void fork_under_first_draws(void) {
  static unsigned char blocks[kForks * (kChildBlocks + 64)][16];
  size_t n = 0;
  pthread_t threads[kDrawers];
  for (int i = 0; i < kDrawers; ++i) pthread_create(&threads[i], NULL, drawer, NULL);
  int bad = 0;
  for (int f = 0; f < kForks; ++f) {
    int fds[2];
    if (pipe(fds) != 0) return check(0, "pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      static unsigned char mine[kChildBlocks][16];
      for (int i = 0; i < kChildBlocks; ++i) arc4random_buf(mine[i], 16);
      _exit(write(fds[1], mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 2);
    }
    close(fds[1]);
    for (int i = 0; i < 64; ++i) arc4random_buf(blocks[n++], 16); /* the parent goes on */
    ssize_t got = 0, r;
    while (got < (ssize_t)(kChildBlocks * 16) &&
           (r = read(fds[0], (unsigned char *)blocks[n] + got, kChildBlocks * 16 - got)) > 0)
      got += r;
    close(fds[0]);
    if (got == kChildBlocks * 16) n += kChildBlocks;
    bad += wait_child(pid, 10) != 0 || got != kChildBlocks * 16;
  }
  g_stop = 1;
  for (int i = 0; i < kDrawers; ++i) pthread_join(threads[i], NULL);
  check(bad == 0, "fork while other threads draw: a child hung or failed");
  check(!any_repeat(blocks, n), "fork while other threads draw: parent and child shared a block");
}

/* ---- 2. fork with a partly used buffer ---------------------------------- */

static void fork_with_partly_used_buffer(void) {
  enum { kBlocks = 4096 };
  static unsigned char both[2 * kBlocks][16];
  for (int used = 1; used <= 257; used += 64) {
    for (int i = 0; i < used; ++i) (void)arc4random(); /* a buffer part used */
    int fds[2];
    if (pipe(fds) != 0) return check(0, "pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      static unsigned char mine[kBlocks][16];
      for (int i = 0; i < kBlocks; ++i) arc4random_buf(mine[i], 16);
      _exit(write(fds[1], mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 2);
    }
    close(fds[1]);
    for (int i = 0; i < kBlocks; ++i) arc4random_buf(both[i], 16);
    ssize_t got = 0, r;
    while (got < (ssize_t)sizeof both / 2 &&
           (r = read(fds[0], (unsigned char *)both[kBlocks] + got, sizeof both / 2 - got)) > 0)
      got += r;
    close(fds[0]);
    check(wait_child(pid, 10) == 0 && got == (ssize_t)sizeof both / 2,
          "fork with a partly used buffer: the child failed");
    check(!any_repeat(both, 2 * kBlocks),
          "fork with a partly used buffer: parent and child drew the same block");
  }
}

/* ---- 3. arc4random_uniform ---------------------------------------------- */

static void uniform_statistics(void) {
  /* chi-square, df = bound - 1; the limits are the 1e-6 upper quantiles. */
  static const struct {
    uint32_t bound;
    double limit;
  } cases[] = {{2, 23.9}, {3, 27.6}, {10, 42.3}, {37, 88.0}, {256, 375.0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    const uint32_t bound = cases[c].bound;
    enum { kDraws = 400000 };
    static long counts[256];
    memset(counts, 0, sizeof counts);
    int out_of_range = 0;
    for (int i = 0; i < kDraws; ++i) {
      const uint32_t v = arc4random_uniform(bound);
      if (v >= bound)
        ++out_of_range;
      else
        ++counts[v];
    }
    double chi2 = 0, expected = (double)kDraws / bound;
    for (uint32_t k = 0; k < bound; ++k)
      chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
    char what[96];
    snprintf(what, sizeof what, "arc4random_uniform(%u): chi-square %.1f over %.1f", bound, chi2,
             cases[c].limit);
    check(out_of_range == 0, "arc4random_uniform returned a value out of range");
    check(chi2 < cases[c].limit, what);
  }
  /* Just above 2^31, modulo reduction would draw values below 2^32 % bound
   * twice as often as the rest. */
  const uint32_t bound = 0x80000001u;
  const uint32_t cut = (uint32_t)((1ull << 32) % bound);
  enum { kDraws = 400000 };
  long low = 0;
  for (int i = 0; i < kDraws; ++i) low += arc4random_uniform(bound) < cut;
  const double p = (double)cut / bound, sigma = sqrt(kDraws * p * (1 - p));
  check(fabs(low - kDraws * p) < 6 * sigma, "arc4random_uniform(2^31+1) is biased");
  check(arc4random_uniform(0) == 0 && arc4random_uniform(1) == 0, "uniform(0|1) must be 0");
}

int main(void) {
  const int ours = defined_in_dropin((void *)&arc4random, "arc4random");
  fflush(stdout); /* a sanitizer's _exit in a child would write it again */
  check(ours, "arc4random does not come from the drop-in");
  fork_under_first_draws();
  fork_with_partly_used_buffer();
  uniform_statistics();
  if (failures == 0) printf("arc4random peers: all checks passed\n");
  return failures ? 1 : 0;
}
