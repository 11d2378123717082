// SPDX-License-Identifier: Apache-2.0
// Restartable sequences on x86_64, for asm goto critical sections (the
// per-cpu strategy, and the benchmark's prototype it grew from): the thread's
// rseq area as glibc (>= 2.35) registered it, the section descriptor, the
// entry that arms it and checks the CPU, and the abort handler. A section
// is written as
//   GRNDPOOL_RSEQ_TABLE(3, 1, 2, 4) GRNDPOOL_RSEQ_ENTER(scratch)
//   ... "2:\n\t" GRNDPOOL_RSEQ_ABORT(4, abort_label)
// with operands [rseq_cs] "m"(rs->rseq_cs), [cpu_id] "m"(rs->cpu_id) and
// [cpu] "r"(the cpu the caller read): the kernel moves a thread preempted,
// migrated or signalled between labels 1 and 2 to label 4 (which jumps to
// abort_label) before it runs again. The library is linked -z nodelete, so
// a descriptor is never unmapped while a thread's area may point at it.
#pragma once

#include <sys/rseq.h>

#define GRNDPOOL_RSEQ_STR_(x) #x
#define GRNDPOOL_RSEQ_STR(x) GRNDPOOL_RSEQ_STR_(x)

// The descriptor of a critical section (start, post-commit and abort labels).
#define GRNDPOOL_RSEQ_TABLE(label, start, post, abort) \
  ".pushsection __rseq_cs, \"aw\"\n\t.balign 32\n\t" GRNDPOOL_RSEQ_STR(label) ":\n\t"     \
  ".long 0x0, 0x0\n\t.quad " GRNDPOOL_RSEQ_STR(start) "f, (" GRNDPOOL_RSEQ_STR(           \
      post) "f - " GRNDPOOL_RSEQ_STR(start) "f), " GRNDPOOL_RSEQ_STR(abort) "f\n\t"        \
  ".popsection\n\t"

// Arms descriptor 3 (through the scratch register operand `reg`), then, as
// the section's first instruction, checks that the thread still runs on
// [cpu].
#define GRNDPOOL_RSEQ_ENTER(reg) \
  "leaq 3b(%%rip), %" reg        \
  "\n\t"                         \
  "movq %" reg                   \
  ", %[rseq_cs]\n\t"             \
  "1:\n\t"                       \
  "cmpl %k[cpu], %[cpu_id]\n\t"  \
  "jnz 4f\n\t"

// The abort handler; the kernel checks the signature in the 4 bytes before it.
#define GRNDPOOL_RSEQ_ABORT(label, target) \
  ".pushsection __rseq_failure, \"ax\"\n\t.byte 0x0f, 0xb9, 0x3d\n\t.long " GRNDPOOL_RSEQ_STR( \
      RSEQ_SIG) "\n\t" GRNDPOOL_RSEQ_STR(label) ":\n\tjmp %l[" GRNDPOOL_RSEQ_STR(target) "]\n\t" \
  ".popsection\n\t"

// The same, jumping to the numeric label `local` of the same asm (forward),
// for sections in plain asm with a status output: asm goto with output
// operands is miscompiled by GCC 12.2 (Debian 12's) on some inlined paths
// (a goto label's return value was never set: tests/per_cpu_test caught it).
#define GRNDPOOL_RSEQ_ABORT_LOCAL(label, local) \
  ".pushsection __rseq_failure, \"ax\"\n\t.byte 0x0f, 0xb9, 0x3d\n\t.long " GRNDPOOL_RSEQ_STR( \
      RSEQ_SIG) "\n\t" GRNDPOOL_RSEQ_STR(label) ":\n\tjmp " GRNDPOOL_RSEQ_STR(local) "f\n\t"     \
  ".popsection\n\t"

namespace grndpool {

// This thread's rseq area (valid when __rseq_size > 0).
inline struct rseq *ThreadRseq() {
  return reinterpret_cast<struct rseq *>(static_cast<char *>(__builtin_thread_pointer()) +
                                         __rseq_offset);
}

}  // namespace grndpool
