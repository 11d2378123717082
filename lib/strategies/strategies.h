// The draw functions of the strategies other than slab (which is the fast path).
#pragma once

#include <cstddef>

namespace grndpool {

void SyscallStrategyDraw(void *out, size_t n);       // getrandom(2) per draw
void VdsoStrategyDraw(void *out, size_t n);          // the kernel path per draw (vDSO when present)
void PerThreadStrategyDraw(void *out, size_t n);     // the seed: 4 KiB locked buffer per thread
void SharedBufferStrategyDraw(void *out, size_t n);  // one lock-free buffer, RCU-swapped
void MutexStrategyDraw(void *out, size_t n);         // one buffer behind a mutex

// Locks the strategies' mutexes around fork; registered at start-up.
void StrategiesLockForFork();
void StrategiesUnlockAfterFork();
void SharedBufferLockForFork();
void SharedBufferUnlockAfterFork();

}  // namespace grndpool
