// SPDX-License-Identifier: Apache-2.0
// Behaviour that needs a fresh process: the environment, RLIMIT_MEMLOCK.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "options.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

std::string Probe() {
  return GRNDPOOL_PROBE_PATH;
}

// Every GRNDPOOL_* variable set to garbage: one line each, naming the variable,
// the value and what is accepted; the process still draws, with the defaults.
TEST(Environment, GarbageInEveryVariable) {
  std::string env;
  for (size_t i = 0; i < kOptionCount; ++i)
    env += std::string(kOptionTable[i].env_name) + "='bogus value' ";
  std::string out;
  ASSERT_EQ(RunCommand(env + Probe() + " describe", &out), 0) << out;
  for (size_t i = 0; i < kOptionCount; ++i) {
    const std::string want = std::string("grndpool: ignoring ") + kOptionTable[i].env_name +
                             "=\"bogus value\": accepted " + kOptionTable[i].accepted;
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n--- got:\n" << out;
  }
  EXPECT_NE(out.find("strategy=slab"), std::string::npos) << out;
  EXPECT_NE(out.find("refill=chacha20"), std::string::npos) << out;
  EXPECT_NE(out.find("slab=2097152B slice=1024B hot-slice=16384B rekey=1048576B"),
            std::string::npos)
      << out;
}

TEST(Environment, ValidValuesTakeEffect) {
  std::string out;
  ASSERT_EQ(RunCommand("GRNDPOOL_REFILL=direct GRNDPOOL_SLAB_BYTES=128K GRNDPOOL_SLICE_BYTES=512 "
                       "GRNDPOOL_SOURCE=syscall " +
                           Probe() + " describe",
                       &out),
            0);
  EXPECT_EQ(out.find("ignoring"), std::string::npos) << out;
  EXPECT_NE(out.find("refill=direct"), std::string::npos) << out;
  EXPECT_NE(out.find("slab=131072B slice=512B"), std::string::npos) << out;
  EXPECT_NE(out.find("source=syscall"), std::string::npos) << out;
}

// The exit line names the process it counts (issue 19): the shell's pid,
// which exec hands to the probe.
TEST(Environment, StatsAtExit) {
  std::string out;
  ASSERT_EQ(
      RunCommand("GRNDPOOL_STATS=1 sh -c 'echo probe-pid=$$; exec " + Probe() + " describe'", &out),
      0);
  const size_t at = out.find("probe-pid=");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string pid = out.substr(at + 10, out.find('\n', at) - at - 10);
  EXPECT_NE(out.find("grndpool stats: pid=" + pid + " bytes_served="), std::string::npos) << out;
}

// The library starts no thread or process and installs no signal handler.
TEST(Process, LibraryStartsNoThreadAndInstallsNoSignalHandler) {
  std::string out;
  EXPECT_EQ(RunCommand(Probe() + " quiet", &out), 0) << out;
}

// RLIMIT_MEMLOCK of 0 and of 4 KiB, with CAP_IPC_LOCK dropped (root ignores the
// limit otherwise): every draw still succeeds, and what cannot be locked is
// counted (the probe checks both).
TEST(Memlock, SmallLimitsStillDraw) {
  for (const char *limit : {"0", "4096"}) {
    std::string out;
    EXPECT_EQ(RunCommand(Probe() + " memlock " + limit + " 16 --drop-ipc-lock", &out), 0) << out;
    EXPECT_NE(out.find("ok=1"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace grndpool::test
