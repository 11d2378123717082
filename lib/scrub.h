// SPDX-License-Identifier: Apache-2.0
// Erasing what secret work leaves outside the slab once it returns: the
// registers it used and the dead stack frames below the caller. Both are
// copied elsewhere by ordinary events after a draw returns — a signal's frame
// saves every register on the stack, the dynamic linker's lazy binding saves
// the vector registers there, and fork() copies the whole stack, dead frames
// included, into the child.
#pragma once

#include <cstddef>

namespace grndpool {

// Zeroes every caller-saved vector register (all of xmm/ymm/zmm on x86_64;
// v0-v7 and v16-v31 on arm64) and the caller-saved general registers that
// carry no return value. Async-signal-safe. Call after a copy of output or
// keyed work, before returning to the caller.
void WipeRegisters();

// Overwrites `bytes` of stack below the caller's frame, where the callees it
// just returned from kept their locals. Async-signal-safe.
void ScrubStackBelow(size_t bytes);

}  // namespace grndpool
