// SPDX-License-Identifier: Apache-2.0
// main() of the suite that runs inside QEMU: the guest's /init passes no
// environment, so the small slab budget the host's strategies_test gets from CTest
// (to keep the overflow test at a few hundred threads) is set here.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char **argv) {
  setenv("GRNDPOOL_SLAB_BYTES", "64K", /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
