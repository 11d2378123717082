/* SPDX-License-Identifier: Apache-2.0 */
/* grndpool as an OpenSSL 3 provider: one RAND algorithm, "GRNDPOOL", that
 * serves every generate call with grndpool_buf(). Selected by openssl.cnf alone
 * (provider/README.md):
 *
 *   [random_sect]
 *   random = GRNDPOOL
 *
 * makes OpenSSL's primary, public and private DRBGs instances of it, so
 * RAND_bytes() and RAND_priv_bytes() (libssl included) draw from the calling
 * thread's grndpool slice.
 *
 * What a context holds: its state word and nothing else. No output, key or
 * counter lives outside grndpool's locked, wipe-on-fork slab, so OpenSSL's
 * per-thread DRBG contexts (ordinary heap, copied by fork) hold nothing a child
 * could replay: fork and reseed safety are the library's. The algorithm has no
 * lock/unlock functions, so OpenSSL takes no lock around a generate call;
 * enable_locking succeeds without making one (grndpool_buf is thread-safe).
 *
 * Nothing here draws while OpenSSL initialises the provider or instantiates a
 * context: the library's first draw (which fetches ChaCha20 from libcrypto) can
 * only come from a generate, get_seed or nonce call, which OpenSSL makes with
 * none of its own locks held (provider/tests/rand_test.c checks the orders). */
#include <grndpool/grndpool.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define GRNDPOOL_PROVIDER_EXPORT __attribute__((visibility("default")))

/* 256 bits: ChaCha20 keys of kernel randomness. */
#define GRNDPOOL_RAND_STRENGTH 256u
/* The largest generate call OpenSSL is told to make; it splits larger requests.
 * grndpool_buf takes any size, so this only bounds one call's latency. */
#define GRNDPOOL_RAND_MAX_REQUEST ((size_t)1 << 20)

/* Reason codes of this provider's errors (text below). */
#define GRNDPOOL_R_PREDICTION_RESISTANCE 1
#define GRNDPOOL_R_STRENGTH 2
#define GRNDPOOL_R_NOT_INSTANTIATED 3

static const OSSL_ITEM kReasons[] = {
    {GRNDPOOL_R_PREDICTION_RESISTANCE,
     "prediction resistance is not offered: grndpool serves buffered kernel-keyed output"},
    {GRNDPOOL_R_STRENGTH, "requested strength above the 256 bits grndpool provides"},
    {GRNDPOOL_R_NOT_INSTANTIATED, "GRNDPOOL context used before instantiate"},
    {0, NULL},
};

/* The core's error functions, taken at init: errors go to the application's
 * libcrypto error queue even if this module was linked against another copy. */
typedef struct {
  const OSSL_CORE_HANDLE *handle;
  OSSL_FUNC_core_new_error_fn *new_error;
  OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
  OSSL_FUNC_core_vset_error_fn *vset_error;
} ProviderCtx;

typedef struct {
  ProviderCtx *prov;
  int state; /* EVP_RAND_STATE_*, read and written atomically */
} RandCtx;

/* vset_error takes a va_list: this makes one (the reason text needs no arguments). */
static void SetError(const ProviderCtx *prov, uint32_t reason, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  prov->vset_error(prov->handle, reason, fmt, args);
  va_end(args);
}

static void RaiseError(const ProviderCtx *prov, int reason, const char *func) {
  if (prov == NULL || prov->new_error == NULL || prov->vset_error == NULL) return;
  prov->new_error(prov->handle);
  if (prov->set_error_debug != NULL) prov->set_error_debug(prov->handle, __FILE__, 0, func);
  SetError(prov, (uint32_t)reason, NULL);
}

static int State(const RandCtx *ctx) {
  return __atomic_load_n(&ctx->state, __ATOMIC_ACQUIRE);
}

/* ---- RAND functions ------------------------------------------------------- */

static void *RandNew(void *provctx, void *parent, const OSSL_DISPATCH *parent_calls) {
  (void)parent; /* never asked for entropy: grndpool takes its keys from the kernel */
  (void)parent_calls;
  RandCtx *ctx = calloc(1, sizeof *ctx);
  if (ctx != NULL) ctx->prov = provctx;
  return ctx;
}

static void RandFree(void *vctx) {
  free(vctx);
}

static int RandInstantiate(void *vctx, unsigned int strength, int prediction_resistance,
                           const unsigned char *pstr, size_t pstr_len, const OSSL_PARAM params[]) {
  RandCtx *ctx = vctx;
  (void)pstr; /* a personalisation string has nothing to personalise: no DRBG state here */
  (void)pstr_len;
  (void)params; /* OpenSSL passes its DRBG settings (cipher, reseed intervals): not ours */
  if (strength > GRNDPOOL_RAND_STRENGTH) {
    RaiseError(ctx->prov, GRNDPOOL_R_STRENGTH, "RandInstantiate");
    return 0;
  }
  if (prediction_resistance) {
    RaiseError(ctx->prov, GRNDPOOL_R_PREDICTION_RESISTANCE, "RandInstantiate");
    return 0;
  }
  __atomic_store_n(&ctx->state, EVP_RAND_STATE_READY, __ATOMIC_RELEASE);
  return 1;
}

static int RandUninstantiate(void *vctx) {
  RandCtx *ctx = vctx;
  __atomic_store_n(&ctx->state, EVP_RAND_STATE_UNINITIALISED, __ATOMIC_RELEASE);
  return 1;
}

/* Checks one request; 1 when it may be served. */
static int Admissible(const RandCtx *ctx, unsigned int strength, int prediction_resistance,
                      const char *func) {
  if (State(ctx) != EVP_RAND_STATE_READY) {
    RaiseError(ctx->prov, GRNDPOOL_R_NOT_INSTANTIATED, func);
    return 0;
  }
  if (strength > GRNDPOOL_RAND_STRENGTH) {
    RaiseError(ctx->prov, GRNDPOOL_R_STRENGTH, func);
    return 0;
  }
  /* The draw may come from a slice filled before this call: not what
   * prediction resistance promises, so refuse rather than pretend. */
  if (prediction_resistance) {
    RaiseError(ctx->prov, GRNDPOOL_R_PREDICTION_RESISTANCE, func);
    return 0;
  }
  return 1;
}

static int RandGenerate(void *vctx, unsigned char *out, size_t outlen, unsigned int strength,
                        int prediction_resistance, const unsigned char *adin, size_t adin_len) {
  (void)adin; /* additional input is not mixed in: there is no DRBG state to mix it into */
  (void)adin_len;
  if (!Admissible(vctx, strength, prediction_resistance, "RandGenerate")) return 0;
  grndpool_buf(out, outlen);
  return 1;
}

/* RAND_add(), RAND_seed() and RAND_poll() land here: accepted, nothing to do,
 * since every grndpool refill already takes a fresh key from the kernel. */
static int RandReseed(void *vctx, int prediction_resistance, const unsigned char *ent,
                      size_t ent_len, const unsigned char *adin, size_t adin_len) {
  (void)vctx;
  (void)prediction_resistance;
  (void)ent;
  (void)ent_len;
  (void)adin;
  (void)adin_len;
  return 1;
}

/* As a parent (`seed = GRNDPOOL`, or a DRBG made with it as parent): seed
 * material for OpenSSL's own DRBGs, which then buffer and reseed on their own
 * schedule, outside grndpool's guarantees. */
static size_t RandGetSeed(void *vctx, unsigned char **buffer, int entropy, size_t min_len,
                          size_t max_len, int prediction_resistance, const unsigned char *adin,
                          size_t adin_len) {
  (void)adin;
  (void)adin_len;
  /* The entropy asked for is a size, not a strength: any amount can be drawn. */
  if (!Admissible(vctx, 0, prediction_resistance, "RandGetSeed")) return 0;
  size_t len = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
  if (len < min_len) len = min_len;
  if (len > max_len) return 0;
  if (len == 0) return 0;
  unsigned char *seed = malloc(len);
  if (seed == NULL) return 0;
  grndpool_buf(seed, len);
  *buffer = seed;
  return len;
}

static void RandClearSeed(void *vctx, unsigned char *buffer, size_t len) {
  (void)vctx;
  if (buffer == NULL) return;
  explicit_bzero(buffer, len);
  free(buffer);
}

static size_t RandNonce(void *vctx, unsigned char *out, unsigned int strength, size_t min_len,
                        size_t max_len) {
  (void)max_len;
  if (!Admissible(vctx, strength, 0, "RandNonce")) return 0;
  size_t len = min_len > 16 ? min_len : 16;
  if (len > max_len) len = max_len;
  if (out != NULL) grndpool_buf(out, len);
  return len;
}

static int RandEnableLocking(void *vctx) {
  (void)vctx; /* thread-safe as it is: no lock to make */
  return 1;
}

static int RandVerifyZeroization(void *vctx) {
  (void)vctx; /* a context holds no secret */
  return 1;
}

static const OSSL_PARAM kGettableCtx[] = {
    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *RandGettableCtx(void *vctx, void *provctx) {
  (void)vctx;
  (void)provctx;
  return kGettableCtx;
}

/* OpenSSL asks for max_request before every generate call: one pass, strcmp per key. */
static int RandGetCtxParams(void *vctx, OSSL_PARAM params[]) {
  const RandCtx *ctx = vctx;
  for (OSSL_PARAM *p = params; p != NULL && p->key != NULL; ++p) {
    int ok = 1;
    if (strcmp(p->key, OSSL_RAND_PARAM_MAX_REQUEST) == 0)
      ok = OSSL_PARAM_set_size_t(p, GRNDPOOL_RAND_MAX_REQUEST);
    else if (strcmp(p->key, OSSL_RAND_PARAM_STRENGTH) == 0)
      ok = OSSL_PARAM_set_uint(p, GRNDPOOL_RAND_STRENGTH);
    else if (strcmp(p->key, OSSL_RAND_PARAM_STATE) == 0)
      ok = OSSL_PARAM_set_int(p, State(ctx));
    if (!ok) return 0;
  }
  return 1;
}

static const OSSL_PARAM kSettableCtx[] = {OSSL_PARAM_END};

static const OSSL_PARAM *RandSettableCtx(void *vctx, void *provctx) {
  (void)vctx;
  (void)provctx;
  return kSettableCtx;
}

/* OpenSSL hands every RAND its DRBG settings (cipher, digest, reseed
 * intervals); they do not apply here and are accepted unread. */
static int RandSetCtxParams(void *vctx, const OSSL_PARAM params[]) {
  (void)vctx;
  (void)params;
  return 1;
}

static const OSSL_DISPATCH kRandFunctions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))RandNew},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))RandFree},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))RandInstantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))RandUninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))RandGenerate},
    {OSSL_FUNC_RAND_RESEED, (void (*)(void))RandReseed},
    {OSSL_FUNC_RAND_NONCE, (void (*)(void))RandNonce},
    {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))RandGetSeed},
    {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))RandClearSeed},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))RandEnableLocking},
    /* No OSSL_FUNC_RAND_LOCK / UNLOCK: EVP_RAND then calls generate unlocked. */
    {OSSL_FUNC_RAND_VERIFY_ZEROIZATION, (void (*)(void))RandVerifyZeroization},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, (void (*)(void))RandGettableCtx},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))RandGetCtxParams},
    {OSSL_FUNC_RAND_SETTABLE_CTX_PARAMS, (void (*)(void))RandSettableCtx},
    {OSSL_FUNC_RAND_SET_CTX_PARAMS, (void (*)(void))RandSetCtxParams},
    {0, NULL},
};

static const OSSL_ALGORITHM kRands[] = {
    {"GRNDPOOL", "provider=grndpool", kRandFunctions,
     "grndpool: per-thread slices of a locked, wipe-on-fork slab of kernel-keyed ChaCha20"},
    {NULL, NULL, NULL, NULL},
};

/* ---- provider functions --------------------------------------------------- */

static const OSSL_ALGORITHM *ProviderQuery(void *provctx, int operation_id, int *no_cache) {
  (void)provctx;
  *no_cache = 0;
  return operation_id == OSSL_OP_RAND ? kRands : NULL;
}

static const OSSL_PARAM kProviderGettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *ProviderGettable(void *provctx) {
  (void)provctx;
  return kProviderGettable;
}

static int ProviderGetParams(void *provctx, OSSL_PARAM params[]) {
  (void)provctx;
  OSSL_PARAM *p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
      !OSSL_PARAM_set_utf8_ptr(p, "grndpool RAND provider"))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
      !OSSL_PARAM_set_utf8_ptr(p, GRNDPOOL_PROVIDER_VERSION))
    return 0;
  /* Describes the pool without drawing (the first draw waits for a generate). */
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) != NULL &&
      !OSSL_PARAM_set_utf8_ptr(p, "grndpool " GRNDPOOL_PROVIDER_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL && !OSSL_PARAM_set_int(p, 1))
    return 0;
  return 1;
}

static const OSSL_ITEM *ProviderReasons(void *provctx) {
  (void)provctx;
  return kReasons;
}

static void ProviderTeardown(void *provctx) {
  free(provctx);
}

static const OSSL_DISPATCH kProviderFunctions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))ProviderTeardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))ProviderGettable},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))ProviderGetParams},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))ProviderQuery},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))ProviderReasons},
    {0, NULL},
};

/* Called by OpenSSL while it loads its configuration: takes the core's error
 * functions and draws nothing. */
GRNDPOOL_PROVIDER_EXPORT int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                                                void **provctx) {
  ProviderCtx *prov = calloc(1, sizeof *prov);
  if (prov == NULL) return 0;
  prov->handle = handle;
  for (; in != NULL && in->function_id != 0; ++in) {
    switch (in->function_id) {
      case OSSL_FUNC_CORE_NEW_ERROR:
        prov->new_error = OSSL_FUNC_core_new_error(in);
        break;
      case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
        prov->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
        break;
      case OSSL_FUNC_CORE_VSET_ERROR:
        prov->vset_error = OSSL_FUNC_core_vset_error(in);
        break;
      default:
        break;
    }
  }
  *out = kProviderFunctions;
  *provctx = prov;
  return 1;
}
