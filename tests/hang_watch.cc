// SPDX-License-Identifier: Apache-2.0
// Runs a test with a time limit shorter than CTest's and, when the limit
// passes, prints where the test and every process it forked were stuck
// before killing them. CTest's own timeout kills silently; a hang seen once
// in CI then says nothing about where it was.
//
//   hang_watch SECONDS PROGRAM [ARGS...]
//
// Exit status: the program's own (128 + signal if it died of one), or 124
// after a hang (one line naming the program and the limit, then for each
// stuck process its state, kernel wait channel and, through gdb when it is
// installed, every thread's stack).
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/probe_util.h"

extern char **environ;

namespace {

using grndpool::test::NowNs;
using grndpool::test::PrintStacksOf;

std::string ReadLine(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The process and everything below it, parents before children.
std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // parent -> child
  if (DIR *proc = opendir("/proc")) {
    while (dirent *e = readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(strtol(e->d_name, nullptr, 10));
      if (pid <= 0) continue;
      // "pid (comm) state ppid ...": comm may hold spaces, so parse after ')'.
      const std::string stat = ReadLine("/proc/" + std::string(e->d_name) + "/stat");
      const size_t close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(stat.substr(close + 1));
      char state = 0;
      pid_t ppid = 0;
      if (rest >> state >> ppid) children.emplace(ppid, pid);
    }
    closedir(proc);
  }
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    auto range = children.equal_range(out[i]);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  }
  return out;
}

void Describe(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  fprintf(stderr, "hang_watch: process %d: %s; wchan %s\n", static_cast<int>(pid),
          ReadLine(dir + "/stat").substr(0, 80).c_str(), ReadLine(dir + "/wchan").c_str());
}

}  // namespace

int main(int argc, char **argv) {
  const long seconds = argc >= 3 ? strtol(argv[1], nullptr, 10) : 0;
  if (seconds <= 0) {
    fprintf(stderr, "usage: hang_watch SECONDS PROGRAM [ARGS...] (SECONDS: a positive integer)\n");
    return 2;
  }
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[2], nullptr, nullptr, argv + 2, environ) != 0) {
    fprintf(stderr, "hang_watch: cannot start %s: %s\n", argv[2], strerror(errno));
    return 2;
  }
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds) * 1000000000u;
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0 && errno != EINTR) return 2;
    if (NowNs() > deadline) {
      fprintf(stderr, "hang_watch: %s still running after %ld s: stacks, then SIGKILL\n", argv[2],
              seconds);
      const std::vector<pid_t> stuck = Descendants(pid);
      for (size_t i = 0; i < stuck.size(); ++i) {
        Describe(stuck[i]);
        if (i < 6) PrintStacksOf(stuck[i]);  // gdb takes seconds a process
      }
      for (pid_t p : stuck) kill(p, SIGKILL);
      waitpid(pid, &status, 0);
      return 124;
    }
    usleep(20000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
