// SPDX-License-Identifier: Apache-2.0
// Finds a function in the vDSO the kernel mapped into this process, validating
// the ELF image before trusting any address in it.
#pragma once

namespace grndpool::kernel {

// Returns the address of `name` with symbol version `version` if the vDSO defines
// it as a global or weak function inside its executable segment, else nullptr
// (also when the image is not of this build's ELF class, byte order and machine).
// Reads only memory the kernel mapped and takes no lock: safe at a first draw in
// a signal handler, and in static programs, where dlvsym() cannot see the vDSO.
void *FindVdsoFunction(const char *name, const char *version);

}  // namespace grndpool::kernel
