/* SPDX-License-Identifier: Apache-2.0 */
/* What the provider's two files share: provider.c (the entry point, the
 * algorithm table, errors) and rand.c (the GRNDPOOL random generator). Not
 * exported: the module's only exported symbol is OSSL_provider_init. */
#ifndef GRNDPOOL_PROVIDER_PROVIDER_H
#define GRNDPOOL_PROVIDER_PROVIDER_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

/* Reason codes of this provider's errors (their text: kReasons in provider.c). */
#define GRNDPOOL_R_PREDICTION_RESISTANCE 1
#define GRNDPOOL_R_STRENGTH 2
#define GRNDPOOL_R_NOT_INSTANTIATED 3

/* The core's error functions, taken at init: errors go to the application's
 * libcrypto error queue even if this module was linked against another copy. */
typedef struct {
  const OSSL_CORE_HANDLE *handle;
  OSSL_FUNC_core_new_error_fn *new_error;
  OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
  OSSL_FUNC_core_vset_error_fn *vset_error;
} ProviderCtx;

/* Raises reason (a GRNDPOOL_R_* code) on the caller's error queue, naming func. */
void RaiseError(const ProviderCtx *prov, int reason, const char *func);

/* The GRNDPOOL algorithm's functions (rand.c). */
extern const OSSL_DISPATCH kRandFunctions[];

#endif
