// SPDX-License-Identifier: Apache-2.0
// lib/kernel/vdso_names: the table of every architecture's vDSO names, its
// view from C (vdso_names_c.c), and the running kernel's vDSO looked up through
// it, cross-checked against the dynamic linker's own view (dlvsym).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "lib/kernel/vdso_names.h"
#include "lib/kernel/vdso_symbol.h"

extern "C" const grndpool_vdso_names *VdsoNamesFromC(unsigned elf_machine);
extern "C" unsigned NativeElfMachineFromC(void);

namespace grndpool::test {
namespace {

using kernel::NativeVdsoNames;
using kernel::VdsoNamesFor;
using kernel::VdsoNamesTable;

TEST(VdsoNames, EveryRowIsWholeAndMachinesAreUnique) {
  std::set<unsigned> machines;
  for (const grndpool_vdso_names &row : VdsoNamesTable()) {
    SCOPED_TRACE(row.arch);
    EXPECT_NE(row.elf_machine, 0u);
    EXPECT_TRUE(machines.insert(row.elf_machine).second) << "machine listed twice";
    EXPECT_NE(strstr(row.getrandom, "getrandom"), nullptr);
    EXPECT_NE(strstr(row.clock_gettime, "clock_gettime"), nullptr);
    EXPECT_EQ(strncmp(row.version, "LINUX_", 6), 0);
    int major = 0, minor = 0;
    EXPECT_EQ(sscanf(row.since, "%d.%d", &major, &minor), 2);
    EXPECT_GE(major * 100 + minor, 611) << "vDSO getrandom() came in Linux 6.11";
    EXPECT_EQ(VdsoNamesFor(row.elf_machine), &row);
  }
  EXPECT_EQ(VdsoNamesFor(0), nullptr);
  EXPECT_EQ(VdsoNamesFor(EM_386), nullptr) << "i386 has no vDSO getrandom()";
}

// What the kernel sources say (arch/*/vdso*.lds.S); a change here is a change
// of the kernel ABI and must be deliberate.
TEST(VdsoNames, TheTwoArchitecturesWeBootSayWhatTheirKernelsExport) {
  const grndpool_vdso_names *x86 = VdsoNamesFor(EM_X86_64);
  ASSERT_NE(x86, nullptr);
  EXPECT_STREQ(x86->getrandom, "__vdso_getrandom");
  EXPECT_STREQ(x86->version, "LINUX_2.6");
  const grndpool_vdso_names *arm64 = VdsoNamesFor(EM_AARCH64);
  ASSERT_NE(arm64, nullptr);
  EXPECT_STREQ(arm64->getrandom, "__kernel_getrandom");
  EXPECT_STREQ(arm64->clock_gettime, "__kernel_clock_gettime");
  EXPECT_STREQ(arm64->version, "LINUX_2.6.39");
  // powerpc returns errors the system call way: never called as a C function.
  ASSERT_NE(VdsoNamesFor(EM_PPC64), nullptr);
  EXPECT_EQ(VdsoNamesFor(EM_PPC64)->c_callable, 0);
}

TEST(VdsoNames, CSeesTheSameTable) {
  EXPECT_EQ(NativeElfMachineFromC(), static_cast<unsigned>(GRNDPOOL_NATIVE_ELF_MACHINE));
  for (const grndpool_vdso_names &row : VdsoNamesTable()) {
    const grndpool_vdso_names *c = VdsoNamesFromC(row.elf_machine);
    ASSERT_NE(c, nullptr) << row.arch;
    EXPECT_STREQ(c->arch, row.arch);
    EXPECT_STREQ(c->getrandom, row.getrandom);
    EXPECT_STREQ(c->clock_gettime, row.clock_gettime);
    EXPECT_STREQ(c->version, row.version);
    EXPECT_EQ(c->c_callable, row.c_callable);
  }
  EXPECT_EQ(VdsoNamesFromC(0), nullptr);
}

TEST(VdsoNames, NativeRowIsTheMachineWeRunOn) {
  const grndpool_vdso_names *native = NativeVdsoNames();
  ASSERT_NE(native, nullptr) << "this architecture is not in vdso_names.h";
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  // uname -m says x86_64 / aarch64 / loongarch64 / ppc64le / s390x / riscv64.
  const std::string machine = u.machine, arch = native->arch;
  const bool same = machine == arch || (arch == "arm64" && machine == "aarch64") ||
                    (arch == "powerpc" && machine.rfind("ppc64", 0) == 0) ||
                    (arch == "powerpc32" && machine == "ppc");
  EXPECT_TRUE(same) << "uname -m " << machine << ", table row " << arch;
}

// The dynamic linker maps the vDSO as "linux-vdso.so.1": dlvsym on it is an
// independent lookup of the same symbols, which the hand-written ELF walk must
// match (the library keeps its own walk: dlvsym takes the loader's lock, which a
// first draw from a signal handler must not, and static programs have no vDSO
// handle).
TEST(VdsoNames, ElfWalkAgreesWithDlvsym) {
  const grndpool_vdso_names *native = NativeVdsoNames();
  ASSERT_NE(native, nullptr);
  void *vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(vdso, nullptr) << dlerror();
  for (const char *name : {native->clock_gettime, native->getrandom}) {
    SCOPED_TRACE(name);
    void *by_loader = dlvsym(vdso, name, native->version);
    EXPECT_EQ(kernel::FindVdsoFunction(name, native->version), by_loader);
    if (name == native->clock_gettime) {
      EXPECT_NE(by_loader, nullptr) << "the positive control";
    }
  }
  EXPECT_EQ(kernel::FindVdsoFunction(native->clock_gettime, "LINUX_0.0"), nullptr);
  EXPECT_EQ(dlvsym(vdso, native->clock_gettime, "LINUX_0.0"), nullptr);
  dlclose(vdso);
}

}  // namespace
}  // namespace grndpool::test
