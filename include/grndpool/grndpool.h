/* SPDX-License-Identifier: Apache-2.0 */
/* grndpool: reseed-safe, fork-safe buffered kernel randomness for threaded servers.
 *
 * Every function here is thread-safe, async-signal-safe to re-enter from a signal
 * handler that interrupts a draw, and never fails: kernel errors are retried or
 * routed to the getrandom(2) syscall. The library starts no thread or process. */
#ifndef GRNDPOOL_GRNDPOOL_H
#define GRNDPOOL_GRNDPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GRNDPOOL_API __attribute__((visibility("default")))
#else
#define GRNDPOOL_API
#endif

/* Uniformly distributed random words. */
GRNDPOOL_API uint32_t grndpool_u32(void);
GRNDPOOL_API uint64_t grndpool_u64(void);

/* Fill buf with n random bytes. */
GRNDPOOL_API void grndpool_buf(void *buf, size_t n);

/* Uniform integer in [0, upper_bound), without modulo bias. Returns 0 when
 * upper_bound < 2. */
GRNDPOOL_API uint32_t grndpool_uniform(uint32_t upper_bound);

/* The counters, listed once: X(name, meaning). Each is a uint64_t field of
 * struct grndpool_stats, in this order; new counters are only ever appended. */
#define GRNDPOOL_COUNTERS(X)                                                          \
  X(bytes_served, "bytes handed to callers")                                          \
  X(bytes_discarded, "buffered bytes thrown away (generation change, fork, exit)")    \
  X(refills, "slice refills")                                                         \
  X(rekeys, "chacha20 key chains keyed from the kernel")                              \
  X(generation_changes, "kernel CRNG generations observed to change")                 \
  X(generation_unknown, "refills where the generation could not be read (fresh key)") \
  X(fork_resets, "times a child process rebuilt its state after fork")                \
  X(fork_redraws, "draws redone because a fork or a dropped page cut them")           \
  X(mlock_failures, "segments that could not be locked")                              \
  X(locked_bytes, "bytes of slab currently mlock'd")                                  \
  X(droppable_bytes, "bytes of slab in MAP_DROPPABLE memory (not locked)")            \
  X(slab_bytes, "bytes of slab currently mapped")                                     \
  X(mmap_failures, "buffer mappings the kernel refused")                              \
  X(slices_in_use, "slices owned by live threads")                                    \
  X(shared_draws, "draws served from shared overflow slices")                         \
  X(kernel_draws, "draws served straight from the kernel path")                       \
  X(kernel_faults, "getrandom/vDSO errors seen (retried or routed elsewhere)")        \
  X(urandom_fallbacks, "fills served by /dev/urandom (getrandom denied)")             \
  X(threads_seen, "threads that ever drew")

#define GRNDPOOL_STATS_VERSION 2

/* Process-wide counters; a snapshot, each field read independently. Set `size`
 * to sizeof(struct grndpool_stats) before the call: the library writes only the
 * fields that fit, so a program built against an older header keeps working.
 * On return `version` is GRNDPOOL_STATS_VERSION of the library. */
struct grndpool_stats {
  uint32_t size;
  uint32_t version;
#define GRNDPOOL_STATS_FIELD(name, help) uint64_t name;
  GRNDPOOL_COUNTERS(GRNDPOOL_STATS_FIELD)
#undef GRNDPOOL_STATS_FIELD
};
/* Fills *out up to out->size bytes (0 is taken as the full struct). Never fails;
 * async-signal-safe. */
GRNDPOOL_API void grndpool_stats(struct grndpool_stats *out);

/* One line: strategy, source, refill mode, slab and slice sizes, locked or not.
 * The string is owned by the library and stays valid until the next call. */
GRNDPOOL_API const char *grndpool_describe(void);

#ifdef __cplusplus
}
#endif
#endif /* GRNDPOOL_GRNDPOOL_H */
