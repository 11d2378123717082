/* SPDX-License-Identifier: Apache-2.0 */
/* arc4random(3) drop-in backed by grndpool.
 *
 * Built as libgrndpool-arc4random.so, installed in LIBDIR/grndpool, and
 * interposed on an existing binary (over glibc >= 2.36's or libbsd's
 * arc4random) with
 *   LD_PRELOAD=LIBDIR/grndpool/libgrndpool-arc4random.so ./program
 * (libgrndpool-arc4random(3); arc4random.map keeps the names unversioned).
 * Semantics match glibc/BSD: never fails, arc4random_uniform(n) is unbiased and
 * returns 0 for n < 2. */
#include <grndpool/grndpool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT uint32_t arc4random(void) {
  return grndpool_u32();
}

EXPORT void arc4random_buf(void *buf, size_t n) {
  grndpool_buf(buf, n);
}

EXPORT uint32_t arc4random_uniform(uint32_t upper_bound) {
  return grndpool_uniform(upper_bound);
}
