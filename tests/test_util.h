// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the test programs.
#pragma once

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/kernel/uapi.h"
#include "lib/strategies/registry.h"
#include "tests/probe_util.h"
#include "tests/stats_util.h"

namespace grndpool::test {

// Whether this kernel maps MAP_DROPPABLE memory (Linux >= 6.11), asked of the
// kernel itself, not read off its version.
inline bool KernelHasMapDroppable() {
  void *p =
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, kernel::kMapDroppable | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  munmap(p, 4096);
  return true;
}

// The vDSO's getrandom as glibc's own loader finds it (dlvsym on the loaded
// vDSO), independently of the library's ELF walk; nullptr when absent.
inline void *VdsoSymbolByLoader(const char *name, const char *version) {
  void *vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
  return vdso != nullptr ? dlvsym(vdso, name, version) : nullptr;
}

// Runs fn in a forked child; returns its exit status (or 128 + signal).
inline int RunInChild(const std::function<int()> &fn) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The same, killed after `seconds` (its threads' stacks printed first): -1 then.
inline int RunInChild(const std::function<int()> &fn, int seconds) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(fn());
  const int status = WaitAtMost(pid, seconds);
  if (status < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs a command line through the shell, returns its exit status and output
// (stdout and stderr together).
inline int RunCommand(const std::string &command, std::string *output) {
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, got);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// This program's path, to run it again as a child with other options (they
// are read once per process); empty when /proc is not mounted.
inline std::string SelfPath() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// Names for parameterised tests over strategies.
inline std::string StrategyParamName(Strategy s) {
  std::string name = StrategyFor(s).name;
  for (char &c : name)
    if (c == '-') c = '_';
  return name;
}

// Strategies that buffer bytes (the others have nothing to invalidate).
inline constexpr Strategy kBufferingStrategies[] = {
    Strategy::kPerThread, Strategy::kSlab, Strategy::kShared, Strategy::kMutex, Strategy::kPerCpu};

}  // namespace grndpool::test
