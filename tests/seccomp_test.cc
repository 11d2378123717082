// SPDX-License-Identifier: Apache-2.0
// getrandom(2) denied by a real seccomp filter (ENOSYS, then EPERM), with the
// vDSO present: each case is a fresh process (seccomp_child) that installs the
// filter before its first draw, forces three kernel reseeds and checks that
// draws work, every refill takes a fresh kernel key and describe says the
// generation is unknown. See seccomp_child.cc. EINTR and EAGAIN too: the
// retries must be bounded (then /dev/urandom).
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace grndpool::test {
namespace {

class Seccomp : public ::testing::TestWithParam<const char *> {};

TEST_P(Seccomp, DeniedGetrandomStillDrawsAndRekeysEveryRefill) {
  if (geteuid() != 0) GTEST_SKIP() << "ioctl(RNDRESEEDCRNG) needs root";
  std::string out;
  // The keystream from the first refill: each one's key comes through the
  // denied path's fallback (kernel-byte refills are checked too, before it).
  const int status = RunCommand(std::string("GRNDPOOL_CHACHA20_AFTER=0 timeout 60 ") +
                                    GRNDPOOL_SECCOMP_CHILD_PATH + " " + GetParam(),
                                &out);
  EXPECT_NE(status, 124) << "the draws hung for 60 s";
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("PASS"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Errno, Seccomp, ::testing::Values("enosys", "eperm", "eintr", "eagain"),
                         [](const auto &info) { return std::string(info.param); });

}  // namespace
}  // namespace grndpool::test
