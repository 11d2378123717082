/* SPDX-License-Identifier: Apache-2.0 */
/* hello.c: the whole C API in one page.
 * Build: cc hello.c $(pkg-config --cflags --libs grndpool) */
#include <grndpool/grndpool.h>
#include <inttypes.h>
#include <stdio.h>

int main(void) {
  /* Random words. */
  uint32_t a = grndpool_u32();
  uint64_t b = grndpool_u64();
  printf("u32: %08" PRIx32 "\nu64: %016" PRIx64 "\n", a, b);

  /* Random bytes, e.g. a 128-bit key. */
  unsigned char key[16];
  grndpool_buf(key, sizeof key);
  printf("key: ");
  for (size_t i = 0; i < sizeof key; ++i) printf("%02x", key[i]);
  printf("\n");

  /* An unbiased die roll: grndpool_uniform(n) is in [0, n). */
  printf("d6:  %" PRIu32 "\n", grndpool_uniform(6) + 1);

  /* What the pool is doing, and how much it has served. */
  struct grndpool_stats st;
  grndpool_get_stats(&st);
  printf("describe: %s\n", grndpool_describe());
  printf("stats: bytes_served=%" PRIu64 " refills=%" PRIu64 " locked_bytes=%" PRIu64 "\n",
         st.bytes_served, st.refills, st.locked_bytes);
  return 0;
}
