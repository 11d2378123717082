// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel/vdso_names.h"

namespace grndpool::kernel {
namespace {

constexpr grndpool_vdso_names kTable[] = {GRNDPOOL_VDSO_NAMES(GRNDPOOL_VDSO_NAME_ROW)};

}  // namespace

std::span<const grndpool_vdso_names> VdsoNamesTable() {
  return kTable;
}

const grndpool_vdso_names *VdsoNamesFor(unsigned elf_machine) {
  for (const grndpool_vdso_names &row : kTable)
    if (row.elf_machine == elf_machine) return &row;
  return nullptr;
}

const grndpool_vdso_names *NativeVdsoNames() {
  return VdsoNamesFor(GRNDPOOL_NATIVE_ELF_MACHINE);
}

}  // namespace grndpool::kernel
