/* SPDX-License-Identifier: Apache-2.0 */
/* lib/kernel/vdso_names.h compiled as C, as kernel/vm/grnd_timestamp_contract.c
 * uses it: vdso_names_test compares what C sees with what C++ sees. */
#include "lib/kernel/vdso_names.h"

const struct grndpool_vdso_names *VdsoNamesFromC(unsigned elf_machine) {
  return grndpool_vdso_names_for(elf_machine);
}

unsigned NativeElfMachineFromC(void) {
  return GRNDPOOL_NATIVE_ELF_MACHINE;
}
