// SPDX-License-Identifier: Apache-2.0
// Where each architecture's vDSO exports getrandom() and clock_gettime(): the
// one table of symbol names and versions, read from the kernel's
// arch/*/vdso*.lds.S (linux-source-6.12; riscv from upstream, where it came
// later). The library (lib/kernel/source.cc), the bench (bench/kernel_paths.cc)
// and the guest programs (kernel/vm/, some in C) all look names up here.
//
// C-compatible on purpose: kernel/vm/grnd_timestamp_contract.c includes it.
// C code expands GRNDPOOL_VDSO_NAMES with GRNDPOOL_VDSO_NAME_ROW, or calls
// grndpool_vdso_names_for(); C++ code uses the functions of vdso_names.cc.
#pragma once

#include <elf.h>

// ROW(arch, elf_machine, getrandom symbol, clock_gettime symbol, version,
//     first kernel with vDSO getrandom, callable as a C function)
// The last column is 0 where the vDSO does not return -errno like a C function
// (powerpc returns a positive errno with CR0.SO set, as its system calls do):
// there, callers must not use the entry and fall back to the system call.
#define GRNDPOOL_VDSO_NAMES(ROW)                                                                   \
  ROW("x86_64", EM_X86_64, "__vdso_getrandom", "__vdso_clock_gettime", "LINUX_2.6", "6.11", 1)     \
  ROW("arm64", EM_AARCH64, "__kernel_getrandom", "__kernel_clock_gettime", "LINUX_2.6.39", "6.12", \
      1)                                                                                           \
  ROW("loongarch64", EM_LOONGARCH, "__vdso_getrandom", "__vdso_clock_gettime", "LINUX_5.10",       \
      "6.12", 1)                                                                                   \
  ROW("powerpc", EM_PPC64, "__kernel_getrandom", "__kernel_clock_gettime", "LINUX_2.6.15", "6.12", \
      0)                                                                                           \
  ROW("powerpc32", EM_PPC, "__kernel_getrandom", "__kernel_clock_gettime", "LINUX_2.6.15", "6.12", \
      0)                                                                                           \
  ROW("s390x", EM_S390, "__kernel_getrandom", "__kernel_clock_gettime", "LINUX_2.6.29", "6.12", 1) \
  ROW("riscv64", EM_RISCV, "__vdso_getrandom", "__vdso_clock_gettime", "LINUX_4.15", "6.16", 1)

struct grndpool_vdso_names {
  const char *arch;           // as Debian's kernel packages name it
  unsigned elf_machine;       // e_machine of that arch's vDSO image
  const char *getrandom;      // the vDSO getrandom() entry
  const char *clock_gettime;  // always there: a positive control for lookups
  const char *version;        // the symbol version both carry
  const char *since;          // first Linux release with that vDSO getrandom()
  int c_callable;             // 0: not callable as a C function (see above)
};

#define GRNDPOOL_VDSO_NAME_ROW(arch, machine, getrandom, clock_gettime, version, since, c) \
  {arch, machine, getrandom, clock_gettime, version, since, c},

// The ELF machine of the code being compiled, which the vDSO image mapped into
// this process must carry; 0 on an architecture the table does not know.
#if defined(__x86_64__) && !defined(__ILP32__)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__) && !defined(__ILP32__)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_AARCH64
#elif defined(__loongarch64)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_LOONGARCH
#elif defined(__powerpc64__)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_PPC64
#elif defined(__powerpc__)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_PPC
#elif defined(__s390x__)
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_S390
#elif defined(__riscv) && __riscv_xlen == 64
#define GRNDPOOL_NATIVE_ELF_MACHINE EM_RISCV
#else
#define GRNDPOOL_NATIVE_ELF_MACHINE 0
#endif

#ifdef __cplusplus
#include <span>

namespace grndpool::kernel {

// Every row of the table, in its order.
std::span<const grndpool_vdso_names> VdsoNamesTable();
// The row for ELF machine `elf_machine`, or nullptr when there is none.
const grndpool_vdso_names *VdsoNamesFor(unsigned elf_machine);
// The row of the architecture this was compiled for, or nullptr. Callers that
// call the entry must also check c_callable.
const grndpool_vdso_names *NativeVdsoNames();

}  // namespace grndpool::kernel
#else
// C: the row for ELF machine `elf_machine`, or NULL.
static inline const struct grndpool_vdso_names *grndpool_vdso_names_for(unsigned elf_machine) {
  static const struct grndpool_vdso_names table[] = {GRNDPOOL_VDSO_NAMES(GRNDPOOL_VDSO_NAME_ROW)};
  for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].elf_machine == elf_machine) return &table[i];
  return (const struct grndpool_vdso_names *)0;
}
#endif
