// SPDX-License-Identifier: Apache-2.0
// The child side of the memory oracle (tests/memory_oracle.h): a forked child
// that writes what it inherited of this process's memory to a file and exits.
// It runs on a stack of its own from its first instruction (its own stack use
// would overwrite the dead frames below the forking thread's stack pointer,
// which are exactly what a careful attacker reads first), and uses only raw
// system calls and static storage (after SYS_fork in a threaded process it may
// not call malloc).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace grndpool::test {

// What the child writes: a record, then `bytes` bytes of memory from `start`.
struct DumpRecord {
  uint64_t start;
  uint64_t bytes;
};
// A record with this start writes no bytes: `bytes` of mappings were left out
// (over 64 GiB: sanitizer shadow).
inline constexpr uint64_t kDumpSkippedMark = ~uint64_t{0};

// Forks (raw: clone() with no atfork handler; else glibc's fork()) a child that
// writes every resident page of every readable mapping (the kernel's [vvar]
// and [vsyscall] aside) to `fd` as records, then exits 0. The child's pid, or
// -1. Not thread-safe: one dump at a time.
pid_t ForkAndDump(int fd, bool raw);

}  // namespace grndpool::test
