// SPDX-License-Identifier: Apache-2.0
// Tells ThreadSanitizer about orderings it cannot see: liburcu's grace periods
// and pointer publication happen inside an uninstrumented library, so without
// these it reports the free after synchronize_rcu() as racing with readers.
#pragma once

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
#define GRNDPOOL_TSAN_ACQUIRE(addr) \
  __tsan_acquire(const_cast<void *>(static_cast<const volatile void *>(addr)))
#define GRNDPOOL_TSAN_RELEASE(addr) \
  __tsan_release(const_cast<void *>(static_cast<const volatile void *>(addr)))
#else
#define GRNDPOOL_TSAN_ACQUIRE(addr) ((void)0)
#define GRNDPOOL_TSAN_RELEASE(addr) ((void)0)
#endif

namespace grndpool {

// A seq_cst fence. ThreadSanitizer does not model fences and GCC says so at
// each one (-Wtsan); the accesses these fences order are all atomic, so TSan
// has nothing to report about them either way, and the warning is silenced.
inline void SeqCstFence() {
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}

}  // namespace grndpool
