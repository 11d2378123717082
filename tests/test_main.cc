// SPDX-License-Identifier: Apache-2.0
// main() for test programs without one of their own: applies the variant's
// GRNDPOOL_TEST_ENV (tests/test_env.h), then runs the tests.
#include <gtest/gtest.h>

#include "tests/test_env.h"

int main(int argc, char **argv) {
  grndpool::test::ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
