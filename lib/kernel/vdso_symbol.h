// SPDX-License-Identifier: Apache-2.0
// Finds a function in the vDSO the kernel mapped into this process, validating
// the ELF image before trusting any address in it.
#pragma once

namespace grndpool::kernel {

// Returns the address of `name` with symbol version `version` if the vDSO defines
// it as a global or weak function inside its executable segment, else nullptr.
void *FindVdsoFunction(const char *name, const char *version);

}  // namespace grndpool::kernel
