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
  // The reservoir's share depends on the CPUs and on rseq (off elsewhere).
  EXPECT_NE(out.find("slab=2097152B slice=1024B hot-slice=16384B reservoir="), std::string::npos)
      << out;
  EXPECT_NE(out.find(" rekey=1048576B"), std::string::npos) << out;
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

// A running probe (`probe hold`), its stdin a pipe whose closing ends it, and
// the lines it printed about itself.
class HeldProbe {
 public:
  explicit HeldProbe(const char *mode) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      const std::string probe = Probe();
      execl(probe.c_str(), probe.c_str(), "hold", mode, static_cast<char *>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = fdopen(out[0], "r");
  }
  ~HeldProbe() {
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ != nullptr) fclose(stdout_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  // The next line the probe printed ("pid=P refills=R ..."), or "".
  std::string Line() {
    char line[512];
    return stdout_ != nullptr && fgets(line, sizeof line, stdout_) != nullptr ? line : "";
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  FILE *stdout_ = nullptr;
};

// The value of "name=value" in a line of such pairs, or "".
std::string Field(const std::string &line, const std::string &name) {
  const std::string key = name + "=";
  size_t at = line.rfind(key, 0) == 0 ? 0 : line.find(" " + key);
  if (at == std::string::npos) return "";
  at += (at == 0 ? 0 : 1) + key.size();
  return line.substr(at, line.find_first_of(" \n", at) - at);
}

std::string StatsOf(const std::string &pid) {
  std::string out;
  EXPECT_EQ(RunCommand(std::string(GRNDPOOL_ENV_PATH) + " --stats " + pid, &out), 0) << out;
  return out;
}

// grndpool-env --stats PID reads a running process's counters from outside it
// (issue 19), and they are what the process says of itself; a child forked
// after the parent drew has its own pid on its page and its own counters.
TEST(RemoteStats, ReadFromOutsideMatchWhatTheProcessSays) {
  HeldProbe probe("fork");
  const std::string parent = probe.Line(), child = probe.Line();
  ASSERT_NE(Field(parent, "pid"), "") << parent;
  ASSERT_NE(Field(child, "pid"), "") << child;
  ASSERT_NE(Field(parent, "pid"), Field(child, "pid"));
  for (const std::string &own : {parent, child}) {
    const std::string remote = StatsOf(Field(own, "pid"));
    EXPECT_EQ(remote.rfind("grndpool stats: pid=" + Field(own, "pid") + " ", 0), 0u) << remote;
    EXPECT_EQ(remote.find('\n'), remote.size() - 1) << "one line: " << remote;
    EXPECT_EQ(remote.find("copied from pid"), std::string::npos) << "the page's pid: " << remote;
    for (const char *name : {"refills", "slab_bytes", "threads_seen", "fork_resets"})
      EXPECT_EQ(Field(remote, name), Field(own, name))
          << name << "\nown: " << own << "remote: " << remote;
  }
  EXPECT_GT(std::stoull(Field(parent, "refills")), 10u) << parent;
  // The child counts its own work: one refill, one reset.
  EXPECT_EQ(Field(child, "refills"), "1") << child;
  EXPECT_EQ(Field(child, "fork_resets"), "1") << child;
}

}  // namespace
}  // namespace grndpool::test
