/* SPDX-License-Identifier: Apache-2.0 */
/* Compiled by tests/header/check_inline.sh as C and as C++, with warnings as
 * errors: the public header's inline draws must build cleanly in both, and
 * (unless GRNDPOOL_NO_INLINE) a draw must read the exported thread block
 * instead of calling the library. */
#include "grndpool/grndpool.h"

uint64_t sum_of_draws(int n);
uint64_t sum_of_draws(int n) {
  uint64_t s = 0;
  for (int i = 0; i < n; ++i) s += grndpool_u32() + grndpool_u64();
  return s;
}

/* A 16-byte token: a constant size, drawn inline. */
void token(unsigned char out[16]);
void token(unsigned char out[16]) { grndpool_buf(out, 16); }

/* A size known only at run time: the exported function, n evaluated once. */
void fill(unsigned char *out, size_t *n);
void fill(unsigned char *out, size_t *n) { grndpool_buf(out, (*n)++); }

/* The exported functions stay reachable by name and by address. */
extern uint32_t (*const u32_fn)(void);
uint32_t (*const u32_fn)(void) = grndpool_u32;
uint32_t out_of_line(void);
uint32_t out_of_line(void) { return (grndpool_u32)(); }
