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

/* Process-wide counters; a snapshot, each field read independently. */
struct grndpool_stats {
  uint64_t bytes_served;       /* bytes handed to callers */
  uint64_t bytes_discarded;    /* buffered bytes thrown away (generation change, fork) */
  uint64_t refills;            /* slice refills */
  uint64_t rekeys;             /* chacha20 key chains keyed from the kernel */
  uint64_t generation_changes; /* kernel CRNG generations observed to change */
  uint64_t fork_resets;        /* times a child process rebuilt its state after fork */
  uint64_t mlock_failures;     /* segments that could not be locked (kept unlocked) */
  uint64_t locked_bytes;       /* bytes of slab currently mlock'd */
  uint64_t slab_bytes;         /* bytes of slab currently mapped */
  uint64_t slices_in_use;      /* slices owned by live threads */
  uint64_t shared_draws;       /* draws served from shared overflow slices */
  uint64_t kernel_draws;       /* draws served straight from the kernel path */
  uint64_t threads_seen;       /* threads that ever drew */
};
GRNDPOOL_API void grndpool_stats(struct grndpool_stats *out);

/* One line: strategy, source, refill mode, slab and slice sizes, locked or not.
 * The string is owned by the library and stays valid until the next call. */
GRNDPOOL_API const char *grndpool_describe(void);

#ifdef __cplusplus
}
#endif
#endif /* GRNDPOOL_GRNDPOOL_H */
