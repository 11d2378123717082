/* SPDX-License-Identifier: Apache-2.0 */
/* RAND_bytes through stock OpenSSL against RAND_bytes through the grndpool
 * provider, in one process, interleaved (provider/bench/run.sh prints the table):
 *
 *   provider_bench CNF MODULES_DIR [ROUNDS] [CALLS]
 *
 * Sources: `default` is RAND_bytes() on the default library context with no
 * configuration (OPENSSL_CONF=/dev/null: stock CTR-DRBG); `default-libctx` is
 * the same in a library context of its own with the default provider, to show
 * that a second context costs nothing; `provider` is RAND_bytes_ex() on a
 * library context that loaded CNF (the shipped grndpool-provider.cnf, so
 * every DRBG is GRNDPOOL); `grndpool_buf` is the library called directly, the
 * floor. Each round runs every source for CALLS calls per thread, in an order
 * rotated every round, with 1 and 2 threads (all threads start together at a
 * barrier). A block counts as preempted when a thread's involuntary context
 * switches moved; the best unpreempted block is the source's own cost, the
 * median shows the neighbours' load. */
#define _GNU_SOURCE
#include <grndpool/grndpool.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { kSources = 4, kMaxRounds = 501 };
static const char *const kNames[kSources] = {"default", "default-libctx", "provider",
                                             "grndpool_buf"};
static OSSL_LIB_CTX *g_stock_ctx, *g_provider_ctx;

typedef struct {
  int source;
  size_t bytes;
  int calls;
} Job;

static Job g_job;
static pthread_barrier_t g_start, g_done;
static int g_threads;
static volatile int g_quit;
static double g_ns[2];
static int g_preempted[2];

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long Involuntary(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

static void RunBlock(int me) {
  unsigned char buf[64];
  const Job job = g_job;
  int ok = 1;
  const long switches = Involuntary();
  const double t0 = Now();
  switch (job.source) {
    case 0:
      for (int i = 0; i < job.calls; ++i) ok &= RAND_bytes(buf, (int)job.bytes);
      break;
    case 1:
      for (int i = 0; i < job.calls; ++i) ok &= RAND_bytes_ex(g_stock_ctx, buf, job.bytes, 0);
      break;
    case 2:
      for (int i = 0; i < job.calls; ++i) ok &= RAND_bytes_ex(g_provider_ctx, buf, job.bytes, 0);
      break;
    default:
      for (int i = 0; i < job.calls; ++i) grndpool_buf(buf, job.bytes);
      break;
  }
  g_ns[me] = (Now() - t0) / job.calls;
  g_preempted[me] = Involuntary() != switches;
  if (!ok) {
    fprintf(stderr, "provider_bench: %s failed\n", kNames[job.source]);
    ERR_print_errors_fp(stderr);
    exit(1);
  }
}

static void *Partner(void *arg) {
  (void)arg;
  for (;;) {
    pthread_barrier_wait(&g_start);
    if (g_quit) return NULL;
    if (g_threads == 2) RunBlock(1);
    pthread_barrier_wait(&g_done);
  }
}

static int CompareDouble(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: provider_bench CNF MODULES_DIR [ROUNDS] [CALLS]\n");
    return 2;
  }
  const int rounds = argc > 3 ? atoi(argv[3]) : 31;
  const int calls = argc > 4 ? atoi(argv[4]) : 1000;
  if (rounds < 1 || rounds > kMaxRounds || calls < 1) {
    fprintf(stderr, "provider_bench: ROUNDS must be 1..%d and CALLS positive\n", kMaxRounds);
    return 2;
  }
  setenv("OPENSSL_CONF", "/dev/null", 1);
  setenv("OPENSSL_MODULES", argv[2], 1);
  g_stock_ctx = OSSL_LIB_CTX_new();
  g_provider_ctx = OSSL_LIB_CTX_new();
  if (g_stock_ctx == NULL || OSSL_PROVIDER_load(g_stock_ctx, "default") == NULL ||
      g_provider_ctx == NULL || !OSSL_LIB_CTX_load_config(g_provider_ctx, argv[1])) {
    fprintf(stderr, "provider_bench: cannot set up the library contexts\n");
    ERR_print_errors_fp(stderr);
    return 1;
  }
  unsigned char b[16];
  if (RAND_bytes_ex(g_provider_ctx, b, sizeof b, 0) != 1 ||
      strcmp(EVP_RAND_get0_name(EVP_RAND_CTX_get0_rand(RAND_get0_public(g_provider_ctx))),
             "GRNDPOOL") != 0 ||
      strcmp(EVP_RAND_get0_name(EVP_RAND_CTX_get0_rand(RAND_get0_public(NULL))), "CTR-DRBG") != 0) {
    fprintf(stderr, "provider_bench: the contexts do not use GRNDPOOL and CTR-DRBG as meant\n");
    return 1;
  }

  pthread_barrier_init(&g_start, NULL, 2);
  pthread_barrier_init(&g_done, NULL, 2);
  pthread_t partner;
  pthread_create(&partner, NULL, Partner, NULL);

  static const size_t kSizes[2] = {4, 16};
  static double ns[2][2][kSources][kMaxRounds];
  static int clean[2][2][kSources][kMaxRounds];
  for (int r = 0; r < rounds; ++r)
    for (int t = 0; t < 2; ++t)
      for (int z = 0; z < 2; ++z)
        for (int k = 0; k < kSources; ++k) {
          const int s = (k + r) % kSources;  // rotated order
          g_threads = t + 1;
          g_job = (Job){s, kSizes[z], calls};
          pthread_barrier_wait(&g_start);
          RunBlock(0);
          pthread_barrier_wait(&g_done);
          // 2 threads: the wall time of one call as each thread sees it, averaged.
          ns[z][t][s][r] = t == 0 ? g_ns[0] : (g_ns[0] + g_ns[1]) / 2;
          clean[z][t][s][r] = !g_preempted[0] && (t == 0 || !g_preempted[1]);
        }
  g_quit = 1;
  pthread_barrier_wait(&g_start);
  pthread_join(partner, NULL);

  double loadavg[3] = {0, 0, 0};
  if (getloadavg(loadavg, 3) < 0) loadavg[0] = -1;
  printf(
      "RAND_bytes, ns per call: best unpreempted block of %d calls per thread (median of all "
      "%d rounds); load average %.2f %.2f %.2f at the end\n\n",
      calls, rounds, loadavg[0], loadavg[1], loadavg[2]);
  printf("| bytes | threads | source | best ns/call | median ns/call | unpreempted rounds |\n");
  printf("|---|---|---|---|---|---|\n");
  double best[2][2][kSources], median[2][2][kSources];
  for (int z = 0; z < 2; ++z)
    for (int t = 0; t < 2; ++t)
      for (int s = 0; s < kSources; ++s) {
        double sorted[kMaxRounds];
        int n_clean = 0;
        best[z][t][s] = -1;
        for (int r = 0; r < rounds; ++r) {
          sorted[r] = ns[z][t][s][r];
          if (clean[z][t][s][r]) {
            ++n_clean;
            if (best[z][t][s] < 0 || ns[z][t][s][r] < best[z][t][s]) best[z][t][s] = ns[z][t][s][r];
          }
        }
        qsort(sorted, (size_t)rounds, sizeof sorted[0], CompareDouble);
        median[z][t][s] = sorted[rounds / 2];
        if (best[z][t][s] < 0) best[z][t][s] = sorted[0];  // every round preempted: the fastest
        printf("| %zu | %d | %s | %.1f | %.1f | %d of %d |\n", kSizes[z], t + 1, kNames[s],
               best[z][t][s], median[z][t][s], n_clean, rounds);
      }
  printf("\nTargets (issue 18), from the best unpreempted blocks (medians in brackets):\n");
  for (int z = 0; z < 2; ++z) {
    const double one = best[z][0][2];
    printf("- %zu B, 1 thread: provider %.1f ns/call (%.1f), target <= 120: %s\n", kSizes[z], one,
           median[z][0][2], one <= 120 ? "met" : "MISSED");
    const double speedup = best[z][1][0] / best[z][1][2];
    printf("- %zu B, 2 threads: default / provider = %.1fx (%.1fx), target >= 5x: %s\n", kSizes[z],
           speedup, median[z][1][0] / median[z][1][2], speedup >= 5 ? "met" : "MISSED");
  }
  return 0;
}
