// SPDX-License-Identifier: Apache-2.0
// The sharing strategies other than slab (which is the fast path); their table
// is registry.h. Files in lib/strategies/ include lib/ headers below draw.cc
// and, for the table's slab row, lib/fast_path.h; nothing else.
#pragma once

#include <cstddef>

namespace grndpool {

void SyscallStrategyDraw(void *out, size_t n);       // getrandom(2) per draw
void VdsoStrategyDraw(void *out, size_t n);          // the kernel path per draw (vDSO when present)
void PerThreadStrategyDraw(void *out, size_t n);     // the seed: 4 KiB locked buffer per thread
void SharedBufferStrategyDraw(void *out, size_t n);  // one lock-free buffer, RCU-swapped
void MutexStrategyDraw(void *out, size_t n);         // one buffer behind a mutex

// The kernel path serves a draw that re-entered from a signal handler (the
// buffer may be mid-update) or that is larger than `max_bytes`; true when it did.
bool ServedDirectly(bool in_draw, void *out, size_t n, size_t max_bytes);

// Each buffering alternative's locks, for the fork hooks InitStrategies registers.
void MutexBufferPrepareFork();
void MutexBufferParentAfterFork();
void MutexBufferChildAfterFork(bool via_atfork);
void SharedBufferPrepareFork();
void SharedBufferParentAfterFork();
void SharedBufferChildAfterFork(bool via_atfork);

}  // namespace grndpool
