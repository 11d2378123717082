/* SPDX-License-Identifier: Apache-2.0 */
/* arc4random_dropin.c: an ordinary program that calls arc4random(3) (glibc
 * 2.36 has it) and knows nothing of grndpool. Preload the drop-in and the
 * same calls draw from grndpool; libgrndpool-arc4random(3) tells more.
 *
 *   cc arc4random_dropin.c -o arc4random_dropin
 *   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/grndpool/libgrndpool-arc4random.so \
 *     GRNDPOOL_STATS=1 ./arc4random_dropin
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  unsigned char key[16];
  size_t i;
  Dl_info info;

  /* Which library serves arc4random: glibc's, or the preloaded drop-in. */
  if (dladdr((void *)&arc4random, &info) == 0 || info.dli_fname == NULL) {
    fprintf(stderr, "dladdr failed\n");
    return 1;
  }
  printf("arc4random from %s\n", info.dli_fname);

  printf("u32: %08" PRIx32 "\n", arc4random());
  arc4random_buf(key, sizeof key);
  printf("key: ");
  for (i = 0; i < sizeof key; ++i) printf("%02x", key[i]);
  printf("\nd6:  %" PRIu32 "\n", arc4random_uniform(6) + 1);
  return 0;
}
