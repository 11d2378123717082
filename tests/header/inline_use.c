/* SPDX-License-Identifier: Apache-2.0 */
/* Compiled by tests/header/check_inline.sh as C and as C++, with warnings as
 * errors: the public header's inline draws must build cleanly in both, and
 * (unless GRNDPOOL_NO_INLINE) a draw must read the exported thread block
 * instead of calling the library. */
/* An application's macros must not break the header: every name it
 * declares or uses inside is prefixed. */
#define tag "application macro"
#define slice 1
#define avail 2
#define owner 3
#define in_draw 4
#define out 5
#define v 6
#define t 7
#define p 8
#define left 9
#define served 10
#define buf 11
#include "grndpool/grndpool.h"
#undef tag
#undef slice
#undef avail
#undef owner
#undef in_draw
#undef out
#undef v
#undef t
#undef p
#undef left
#undef served
#undef buf

uint64_t sum_of_draws(int n);
uint64_t sum_of_draws(int n) {
  uint64_t s = 0;
  int i;
  for (i = 0; i < n; ++i) s += grndpool_u32() + grndpool_u64();
  return s;
}

/* A 16-byte token: a constant size, drawn inline. */
void token(unsigned char out[16]);
void token(unsigned char out[16]) {
  grndpool_buf(out, 16);
}

/* A 12-byte nonce: 8 + 4 bytes, so every string move width but the
 * smallest (assembled with -masm=intel too). */
void nonce(unsigned char out[12]);
void nonce(unsigned char out[12]) {
  grndpool_buf(out, 12);
}

/* 7 bytes: 4 + 2 + 1. */
void seven(unsigned char out[7]);
void seven(unsigned char out[7]) {
  grndpool_buf(out, 7);
}

/* A size known only at run time: the exported function, n evaluated once. */
void fill(unsigned char *out, size_t *n);
void fill(unsigned char *out, size_t *n) {
  grndpool_buf(out, (*n)++);
}

/* Declaring the functions again is fine, and their address is the exported
 * function's. */
uint32_t grndpool_u32(void);
void grndpool_buf(void *buf, size_t n);
extern uint32_t (*const u32_fn)(void);
uint32_t (*const u32_fn)(void) = grndpool_u32;
