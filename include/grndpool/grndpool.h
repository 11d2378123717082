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
  X(threads_seen, "threads that ever drew")                                           \
  X(hot_slices_in_use, "hot (larger) slices owned by threads that draw the most")

#define GRNDPOOL_STATS_VERSION 3

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

/* Inline draws. With GCC or Clang on ELF, grndpool_u32(), grndpool_u64() and
 * grndpool_buf() of a constant size up to 64 bytes expand to an inline copy of the library's
 * per-draw path: a thread-local load, a bounds check, the copy, a zeroing store and an ownership
 * check. Everything else (first draw, refill, fork, reseed, other strategies, a signal handler that
 * interrupted a draw) goes to the exported function, which
 * `&grndpool_u32`, `(grndpool_u32)()` and dlsym() always reach. Define
 * GRNDPOOL_NO_INLINE to call the functions only.
 *
 * The structures below are the library's, not an API: their layout is
 * versioned by the name of the exported thread-local symbol. A library with
 * another layout does not export grndpool_thread_v1, so a program built against
 * an older header fails to load instead of misreading the new layout. */
#if defined(__GNUC__) && defined(__ELF__) && !defined(GRNDPOOL_NO_INLINE) && \
    !defined(GRNDPOOL_BUILDING_LIBRARY)
struct grndpool_slice_v1 {
  int32_t avail;         /* bytes left; the next draw of n takes data[avail - n, avail) */
  uint32_t filled;       /* private */
  uint32_t owner;        /* tag of the owning thread; reads 0 once fork or the kernel wiped it */
  uint32_t private_[13]; /* the data follows this 64-byte header */
};
struct grndpool_thread_v1 {
  struct grndpool_slice_v1 *slice; /* never NULL: a shared empty slice when unset */
  uint32_t tag;                    /* this thread's owner tag */
  uint8_t in_draw;                 /* set while the thread is inside a draw */
};
extern __thread struct grndpool_thread_v1 grndpool_thread_v1
    __attribute__((tls_model("initial-exec")));

/* Takes n bytes from the thread's slice into out; 0 when the library must
 * serve the draw (the bytes in out are then not to be used). */
static inline __attribute__((always_inline)) int grndpool_inline_take_(void *out, size_t n) {
  struct grndpool_thread_v1 *t = &grndpool_thread_v1;
  struct grndpool_slice_v1 *s;
  int32_t avail;
  int served = 0;
  if (__builtin_expect(t->in_draw, 0)) return 0; /* a handler inside a draw */
  t->in_draw = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  s = t->slice;
  avail = __atomic_load_n(&s->avail, __ATOMIC_RELAXED);
  if (__builtin_expect(avail >= (int32_t)n, 1)) {
    const int32_t left = avail - (int32_t)n;
    unsigned char *p = (unsigned char *)(s + 1) + left;
    __builtin_memcpy(out, p, n);
    __builtin_memset(p, 0, n);
    __atomic_store_n(&s->avail, left, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /* Zero once a fork (also from a signal handler during the copy) or the
     * kernel wiped the slice: the copy is then not trusted. */
    served = __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == t->tag;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  t->in_draw = 0;
  return served;
}

static inline __attribute__((always_inline)) uint32_t grndpool_inline_u32_(void) {
  uint32_t v;
  if (__builtin_expect(grndpool_inline_take_(&v, sizeof v), 1)) return v;
  return (grndpool_u32)();
}
static inline __attribute__((always_inline)) uint64_t grndpool_inline_u64_(void) {
  uint64_t v;
  if (__builtin_expect(grndpool_inline_take_(&v, sizeof v), 1)) return v;
  return (grndpool_u64)();
}
static inline __attribute__((always_inline)) void grndpool_inline_buf_(void *buf, size_t n) {
  if (__builtin_expect(!grndpool_inline_take_(buf, n), 0)) (grndpool_buf)(buf, n);
}

/* Inline only where n is a compile-time constant of at most 64 (tokens, keys):
 * the copy then compiles to a few moves. n is evaluated once either way. */
#define grndpool_buf(buf, n)                                                          \
  (__builtin_constant_p(n) && (n) > 0 && (n) <= 64 ? grndpool_inline_buf_((buf), (n)) \
                                                   : (grndpool_buf)((buf), (n)))
#define grndpool_u32() grndpool_inline_u32_()
#define grndpool_u64() grndpool_inline_u64_()
#endif

#ifdef __cplusplus
}
#endif
#endif /* GRNDPOOL_GRNDPOOL_H */
