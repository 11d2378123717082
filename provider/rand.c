/* SPDX-License-Identifier: Apache-2.0 */
/* The GRNDPOOL random generator: OpenSSL's RAND functions over grndpool_buf().
 * provider.c's opening comment says what a context holds and why no lock. */
#include <grndpool/grndpool.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"

/* 256 bits: ChaCha20 keys of kernel randomness. */
#define GRNDPOOL_RAND_STRENGTH 256u
/* The largest generate call OpenSSL is told to make; it splits larger requests.
 * grndpool_buf takes any size, so this only bounds one call's latency. */
#define GRNDPOOL_RAND_MAX_REQUEST ((size_t)1 << 20)

typedef struct {
  ProviderCtx *prov;
  int state; /* EVP_RAND_STATE_*, read and written atomically */
} RandCtx;

static int State(const RandCtx *ctx) {
  return __atomic_load_n(&ctx->state, __ATOMIC_ACQUIRE);
}

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

const OSSL_DISPATCH kRandFunctions[] = {
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
