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
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdlib.h>

#include "provider/provider.h"

#define GRNDPOOL_PROVIDER_EXPORT __attribute__((visibility("default")))

static const OSSL_ITEM kReasons[] = {
    {GRNDPOOL_R_PREDICTION_RESISTANCE,
     "prediction resistance is not offered: grndpool serves buffered kernel-keyed output"},
    {GRNDPOOL_R_STRENGTH, "requested strength above the 256 bits grndpool provides"},
    {GRNDPOOL_R_NOT_INSTANTIATED, "GRNDPOOL context used before instantiate"},
    {0, NULL},
};

/* vset_error takes a va_list: this makes one (the reason text needs no arguments). */
static void SetError(const ProviderCtx *prov, uint32_t reason, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  prov->vset_error(prov->handle, reason, fmt, args);
  va_end(args);
}

void RaiseError(const ProviderCtx *prov, int reason, const char *func) {
  if (prov == NULL || prov->new_error == NULL || prov->vset_error == NULL) return;
  prov->new_error(prov->handle);
  if (prov->set_error_debug != NULL) prov->set_error_debug(prov->handle, __FILE__, 0, func);
  SetError(prov, (uint32_t)reason, NULL);
}

static const OSSL_ALGORITHM kRands[] = {
    {"GRNDPOOL", "provider=grndpool", kRandFunctions,
     "grndpool: per-thread slices of a locked, wipe-on-fork slab of kernel-keyed ChaCha20"},
    {NULL, NULL, NULL, NULL},
};

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
