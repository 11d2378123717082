/* SPDX-License-Identifier: Apache-2.0 */
/* Consumer of an installed grndpool: links, draws, and describes the pool. */
#include <grndpool/grndpool.h>
#include <stdio.h>

int main(void) {
  printf("u32: %u\n", (unsigned)grndpool_u32());
  printf("describe: %s\n", grndpool_describe());
  return 0;
}
