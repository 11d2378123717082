/* SPDX-License-Identifier: Apache-2.0 */
/* The provider through libcrypto's public API, one case per process:
 *
 *   provider_rand_test CONF|- MODULES_DIR CASE
 *
 * CONF is the openssl.cnf that selects GRNDPOOL ("-": none, stock OpenSSL);
 * both are set in the environment here, before libcrypto reads it. The
 * program does not link libgrndpool: it reaches grndpool only through the
 * provider, and reads grndpool's counters from the copy the provider loaded
 * (dlopen RTLD_NOLOAD) to prove the bytes came from there. Exit 0: pass. */
#define GRNDPOOL_NO_INLINE
#include <dlfcn.h>
#include <grndpool/grndpool.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN 16
typedef struct {
  unsigned char b[TOKEN];
} Token;

static int g_failed = 0;
static void Check(int ok, const char *what) {
  if (!ok) {
    printf("FAIL: %s\n", what);
    ERR_print_errors_fp(stdout);
    g_failed = 1;
  }
}

/* grndpool's bytes_served in the copy the provider loaded; -1 when it is not loaded. */
static long long GrndpoolServed(void) {
  void *lib = dlopen("libgrndpool.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (lib == NULL) return -1;
  void (*stats)(struct grndpool_stats *) =
      (void (*)(struct grndpool_stats *))dlsym(lib, "grndpool_stats");
  long long served = -1;
  if (stats != NULL) {
    struct grndpool_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    stats(&s);
    served = (long long)s.bytes_served;
  }
  dlclose(lib);
  return served;
}

static const char *RandName(EVP_RAND_CTX *ctx) {
  if (ctx == NULL) return "(none)";
  return EVP_RAND_get0_name(EVP_RAND_CTX_get0_rand(ctx));
}
static const char *RandProvider(EVP_RAND_CTX *ctx) {
  if (ctx == NULL) return "(none)";
  return OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(EVP_RAND_CTX_get0_rand(ctx)));
}

static int IsGrndpool(EVP_RAND_CTX *ctx) {
  return ctx != NULL && strcmp(RandName(ctx), "GRNDPOOL") == 0 &&
         strcmp(RandProvider(ctx), "grndpool") == 0;
}

static int CompareTokens(const void *a, const void *b) {
  return memcmp(a, b, sizeof(Token));
}

/* Sorts v and returns the number of tokens that equal their predecessor or are all zero. */
static size_t Repeats(Token *v, size_t n) {
  static const Token zero;
  size_t bad = 0;
  qsort(v, n, sizeof *v, CompareTokens);
  for (size_t i = 0; i < n; ++i)
    if (memcmp(&v[i], &zero, sizeof zero) == 0 ||
        (i > 0 && memcmp(&v[i], &v[i - 1], sizeof zero) == 0))
      ++bad;
  return bad;
}

/* Every probe has its positive control: a planted repeat must be found. */
static void CheckRepeatsFindsPlanted(void) {
  Token v[4];
  for (int i = 0; i < 4; ++i) memset(v[i].b, 0x11 * (i + 1), TOKEN);
  v[3] = v[1];
  Check(Repeats(v, 4) == 1, "control: the repeat detector missed a planted repeat");
}

static void Draw(Token *out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    int ok = (i & 1) ? RAND_priv_bytes(out[i].b, TOKEN) : RAND_bytes(out[i].b, TOKEN);
    if (ok != 1) {
      Check(0, "RAND_bytes/RAND_priv_bytes returned failure");
      return;
    }
  }
}

static void OnAlarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: no progress in 60 s (deadlock?)\n";
  (void)!write(1, msg, sizeof msg - 1);
  _exit(3);
}

/* ---- cases ------------------------------------------------------------------ */

static void CaseWhich(int expect_grndpool) {
  unsigned char b[TOKEN];
  Check(RAND_bytes(b, sizeof b) == 1 && RAND_priv_bytes(b, sizeof b) == 1, "RAND_bytes failed");
  EVP_RAND_CTX *rands[3] = {RAND_get0_primary(NULL), RAND_get0_public(NULL),
                            RAND_get0_private(NULL)};
  const char *names[3] = {"primary", "public", "private"};
  for (int i = 0; i < 3; ++i) {
    printf("%s: %s from provider %s\n", names[i], RandName(rands[i]), RandProvider(rands[i]));
    Check(IsGrndpool(rands[i]) == expect_grndpool,
          expect_grndpool ? "a DRBG is not GRNDPOOL" : "control: stock OpenSSL reads as GRNDPOOL");
  }
  const long long served = GrndpoolServed();
  printf("grndpool bytes_served: %lld\n", served);
  if (expect_grndpool) {
    const long long before = served;
    Check(RAND_bytes(b, sizeof b) == 1, "RAND_bytes failed");
    Check(before >= 2 * TOKEN && GrndpoolServed() >= before + TOKEN,
          "grndpool did not serve the bytes RAND_bytes returned");
  } else {
    Check(served == -1, "control: libgrndpool loaded without the provider");
  }
}

typedef struct {
  Token *out;
  size_t n;
  pthread_barrier_t *start;
} Worker;

static void *RunWorker(void *arg) {
  Worker *w = arg;
  if (w->start != NULL) pthread_barrier_wait(w->start);
  Draw(w->out, w->n);
  return NULL;
}

/* Threads draw at once (RAND_bytes and RAND_priv_bytes alternating); with
 * `first` set they start together before any other libcrypto call. */
static void CaseThreads(int threads, size_t per_thread, int first) {
  Token *all = calloc((size_t)threads * per_thread, sizeof *all);
  pthread_t tid[16];
  Worker w[16];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  const long long before = first ? 0 : GrndpoolServed();
  for (int i = 0; i < threads; ++i) {
    w[i] = (Worker){all + (size_t)i * per_thread, per_thread, &start};
    pthread_create(&tid[i], NULL, RunWorker, &w[i]);
  }
  for (int i = 0; i < threads; ++i) pthread_join(tid[i], NULL);
  const size_t n = (size_t)threads * per_thread;
  const long long served = GrndpoolServed() - (before > 0 ? before : 0);
  printf("%d threads x %zu tokens: %zu repeated or zero; grndpool served %lld bytes\n", threads,
         per_thread, Repeats(all, n), served);
  Check(Repeats(all, n) == 0, "a token repeated or was zero");
  Check(served >= (long long)(n * TOKEN), "grndpool served fewer bytes than the threads drew");
  Check(IsGrndpool(RAND_get0_public(NULL)) && IsGrndpool(RAND_get0_private(NULL)),
        "this thread's DRBGs are not GRNDPOOL");
  free(all);
}

/* Background drawers that stand still while the main thread forks. OpenSSL
 * 3.0 itself cannot fork while another thread is inside RAND_bytes: every call
 * takes a write lock (RAND_get_rand_method's rand_meth_lock) and OpenSSL 3.0
 * has no fork handlers, so a child forked at that moment blocks on the copied
 * lock forever, with or without this provider (seen here with stock OpenSSL). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_pause = 0, g_paused = 0, g_stop = 0;

static void *Background(void *arg) {
  (void)arg;
  Token t[16];
  for (;;) {
    pthread_mutex_lock(&g_mu);
    if (g_pause) {
      ++g_paused;
      pthread_cond_broadcast(&g_cv);
      while (g_pause && !g_stop) pthread_cond_wait(&g_cv, &g_mu);
      --g_paused;
    }
    const int stop = g_stop;
    pthread_mutex_unlock(&g_mu);
    if (stop) return NULL;
    Draw(t, 16);
  }
}

static void PauseBackground(int threads) {
  pthread_mutex_lock(&g_mu);
  g_pause = 1;
  while (g_paused < threads) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

static void ResumeBackground(void) {
  pthread_mutex_lock(&g_mu);
  g_pause = 0;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void *DrawInChild(void *arg) {
  Draw(arg, 64);
  return NULL;
}

/* Parent and children never draw the same token: fork while two other
 * threads have drawn (their DRBG contexts and slices are live), the child
 * draws from its main thread and a new thread and forks a grandchild that
 * draws too; all report through a pipe, and the parent draws the same count
 * after each fork. The child's DRBG contexts are the parent's, copied. */
static void CaseFork(void) {
  enum { kForks = 20, kPer = 256, kChildThread = 64 };
  const size_t per_fork = 2 * (kPer + kChildThread) + kPer;
  Token *all = calloc((size_t)kForks * per_fork + kPer, sizeof *all);
  size_t n = 0;
  pthread_t bg[2];
  for (int i = 0; i < 2; ++i) pthread_create(&bg[i], NULL, Background, NULL);
  Draw(all, kPer);  // the parent's DRBGs and slice are warm before the first fork
  n += kPer;
  for (int f = 0; f < kForks; ++f) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    PauseBackground(2);
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(60);  // alarms are not inherited: a child stuck on a copied lock must not linger
      close(fds[0]);
      Token mine[kPer + kChildThread];
      const pid_t grandchild = fork();
      if (grandchild == 0) alarm(60);
      pthread_t t;
      pthread_create(&t, NULL, DrawInChild, mine + kPer);
      Draw(mine, kPer);
      pthread_join(t, NULL);
      for (int i = 0; i < kPer + kChildThread; ++i)
        if (write(fds[1], &mine[i], sizeof mine[i]) != sizeof mine[i]) _exit(2);
      if (grandchild == 0) _exit(g_failed ? 2 : 0);
      int st = 0;
      waitpid(grandchild, &st, 0);
      _exit(!g_failed && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 2);
    }
    ResumeBackground();
    close(fds[1]);
    Draw(all + n, kPer);
    n += kPer;
    Token t;
    size_t from_children = 0;
    while (read(fds[0], &t, sizeof t) == (ssize_t)sizeof t) {
      if (from_children < 2 * (kPer + kChildThread)) all[n++] = t;
      ++from_children;
    }
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    Check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child failed");
    Check(from_children == 2 * (kPer + kChildThread),
          "a child or grandchild did not report all its tokens");
  }
  pthread_mutex_lock(&g_mu);
  g_stop = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < 2; ++i) pthread_join(bg[i], NULL);
  const size_t bad = Repeats(all, n);
  printf(
      "%d forks (child with a new thread, and a grandchild, each), %zu tokens: %zu repeated "
      "or zero\n",
      kForks, n, bad);
  Check(bad == 0, "parent and child (or grandchild) drew the same token");
  Check(IsGrndpool(RAND_get0_public(NULL)), "the parent's DRBG is not GRNDPOOL");
  free(all);
}

/* libcrypto first, then the first RAND draw: grndpool's start-up fetches
 * ChaCha20 from a libcrypto that is already initialised. */
static void CaseAfterCipher(void) {
  EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  unsigned char key[32] = {1}, iv[16] = {0}, buf[64] = {0};
  int len = 0;
  Check(c != NULL && ctx != NULL && EVP_EncryptInit_ex2(ctx, c, key, iv, NULL) == 1 &&
            EVP_EncryptUpdate(ctx, buf, &len, buf, sizeof buf) == 1,
        "ChaCha20 before the first draw");
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
  CaseWhich(1);
}

/* `seed = GRNDPOOL`: OpenSSL's CTR-DRBG seeded from grndpool. Its primary is
 * instantiated under OpenSSL's RAND lock, so grndpool's first draw (and start-up)
 * runs inside get_seed with that lock held. */
static void CaseSeedMode(const char *modules) {
  (void)modules;
  unsigned char b[TOKEN];
  Check(RAND_bytes(b, sizeof b) == 1, "RAND_bytes failed with seed = GRNDPOOL");
  EVP_RAND_CTX *primary = RAND_get0_primary(NULL);
  printf("primary: %s from %s\n", RandName(primary), RandProvider(primary));
  Check(primary != NULL && strcmp(RandName(primary), "CTR-DRBG") == 0,
        "seed mode: the primary is not OpenSSL's CTR-DRBG");
  const long long served = GrndpoolServed();
  printf("grndpool bytes_served: %lld\n", served);
  Check(served >= 32, "seed mode: grndpool did not seed the primary");
}

static void CaseReseedAndErrors(void) {
  unsigned char b[TOKEN];
  Check(RAND_bytes(b, sizeof b) == 1, "RAND_bytes failed");
  RAND_add(b, sizeof b, 8.0);
  RAND_seed(b, sizeof b);
  Check(RAND_poll() == 1, "RAND_poll failed");
  Check(RAND_status() == 1, "RAND_status is not 1");
  EVP_RAND_CTX *pub = RAND_get0_public(NULL);
  Check(EVP_RAND_get_state(pub) == EVP_RAND_STATE_READY, "state is not READY");
  Check(EVP_RAND_get_strength(pub) == 256, "strength is not 256");
  Check(EVP_RAND_reseed(pub, 0, b, sizeof b, NULL, 0) == 1, "reseed failed");

  // Prediction resistance is refused with a reason that says why.
  ERR_clear_error();
  Check(EVP_RAND_generate(pub, b, sizeof b, 0, 1, NULL, 0) == 0,
        "prediction resistance was not refused");
  char text[256] = "";
  unsigned long e;
  int found = 0;
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, text, sizeof text);
    printf("error (expected): %s\n", text);
    if (strstr(text, "prediction resistance") != NULL) found = 1;
  }
  Check(found, "the refusal does not name prediction resistance");
  Check(EVP_RAND_generate(pub, b, sizeof b, 512, 0, NULL, 0) == 0, "strength 512 was accepted");
  ERR_clear_error();

  // A context of its own: refused before instantiate, then serves, then parents a CTR-DRBG.
  EVP_RAND *rand = EVP_RAND_fetch(NULL, "GRNDPOOL", NULL);
  EVP_RAND_CTX *own = rand != NULL ? EVP_RAND_CTX_new(rand, NULL) : NULL;
  Check(own != NULL, "EVP_RAND_fetch/CTX_new of GRNDPOOL");
  if (own == NULL) return;
  Check(EVP_RAND_generate(own, b, sizeof b, 0, 0, NULL, 0) == 0, "generate before instantiate");
  ERR_clear_error();
  Check(EVP_RAND_instantiate(own, 256, 0, NULL, 0, NULL) == 1, "instantiate");
  Check(EVP_RAND_generate(own, b, sizeof b, 256, 0, NULL, 0) == 1, "generate");
  EVP_RAND *ctr = EVP_RAND_fetch(NULL, "CTR-DRBG", NULL);
  EVP_RAND_CTX *child = ctr != NULL ? EVP_RAND_CTX_new(ctr, own) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER, "AES-256-CTR", 0),
      OSSL_PARAM_construct_end(),
  };
  const long long before = GrndpoolServed();
  Check(child != NULL && EVP_RAND_instantiate(child, 256, 0, NULL, 0, params) == 1 &&
            EVP_RAND_generate(child, b, sizeof b, 256, 0, NULL, 0) == 1,
        "a CTR-DRBG child of GRNDPOOL (get_seed, nonce)");
  Check(GrndpoolServed() >= before + 32, "the child's seed did not come from grndpool");
  EVP_RAND_CTX_free(child);
  EVP_RAND_free(ctr);
  Check(EVP_RAND_uninstantiate(own) == 1, "uninstantiate");
  EVP_RAND_CTX_free(own);
  EVP_RAND_free(rand);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: provider_rand_test CONF|- MODULES_DIR CASE\n");
    return 2;
  }
  const char *conf = argv[1], *modules = argv[2], *c = argv[3];
  char seed_conf[] = "/tmp/grndpool-seed-XXXXXX.cnf";
  if (strcmp(c, "seed-mode") == 0) {
    // The shipped configuration with `random = GRNDPOOL` replaced by `seed = GRNDPOOL`.
    int fd = mkstemps(seed_conf, 4);
    FILE *in = fopen(conf, "r"), *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    char line[512];
    if (in == NULL || out == NULL) {
      perror("seed-mode: config");
      return 2;
    }
    while (fgets(line, sizeof line, in) != NULL)
      fputs(strcmp(line, "random = GRNDPOOL\n") == 0 ? "seed = GRNDPOOL\n" : line, out);
    fclose(in);
    fclose(out);
    conf = seed_conf;
  }
  setenv("OPENSSL_CONF", strcmp(conf, "-") == 0 ? "/dev/null" : conf, 1);
  setenv("OPENSSL_MODULES", modules, 1);
  signal(SIGALRM, OnAlarm);
  alarm(60);
  CheckRepeatsFindsPlanted();

  if (strcmp(c, "first-draw") == 0) {
    CaseWhich(1);  // the first libcrypto call of the process is RAND_bytes
  } else if (strcmp(c, "which-control") == 0) {
    CaseWhich(0);
  } else if (strcmp(c, "threads") == 0) {
    unsigned char b[1];
    Check(RAND_bytes(b, 1) == 1, "RAND_bytes");
    CaseThreads(4, 4000, 0);
  } else if (strcmp(c, "first-draw-threads") == 0) {
    CaseThreads(8, 500, 1);  // eight first draws at once, nothing initialised
  } else if (strcmp(c, "fork") == 0) {
    CaseFork();
  } else if (strcmp(c, "first-draw-after-cipher") == 0) {
    CaseAfterCipher();
  } else if (strcmp(c, "seed-mode") == 0) {
    CaseSeedMode(modules);
    unlink(seed_conf);
  } else if (strcmp(c, "reseed-and-errors") == 0) {
    CaseReseedAndErrors();
  } else {
    fprintf(stderr, "provider_rand_test: unknown case '%s'\n", c);
    return 2;
  }
  printf("%s\n", g_failed ? "FAIL" : "PASS");
  return g_failed;
}
