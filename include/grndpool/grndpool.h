/* SPDX-License-Identifier: Apache-2.0 */
/* grndpool: reseed-safe, fork-safe buffered kernel randomness for threaded servers.
 *
 * Every function here is thread-safe and never fails: kernel errors are retried
 * or routed to the getrandom(2) syscall. Every function but grndpool_describe()
 * is async-signal-safe, also in a handler that interrupts a draw. The library
 * starts no thread or process. */
#ifndef GRNDPOOL_GRNDPOOL_H
#define GRNDPOOL_GRNDPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GRNDPOOL_API __attribute__((__visibility__("default")))
#else
#define GRNDPOOL_API
#endif

/* Uniformly distributed random words. */
GRNDPOOL_API uint32_t grndpool_u32(void);
GRNDPOOL_API uint64_t grndpool_u64(void);

/* Fill buf with n random bytes. */
GRNDPOOL_API void grndpool_buf(void * /* buf */, size_t /* n */);

/* Uniform integer in [0, upper_bound), without modulo bias. Returns 0 when
 * upper_bound < 2. */
GRNDPOOL_API uint32_t grndpool_uniform(uint32_t /* upper_bound */);

/* The counters, listed once: X(name, meaning). Each is a uint64_t field of
 * struct grndpool_stats, in this order; new counters are only ever appended. */
#define GRNDPOOL_COUNTERS(X)                                                                       \
  X(bytes_served, "bytes handed to callers")                                                       \
  X(bytes_discarded, "buffered bytes thrown away (generation change, fork, exit)")                 \
  X(refills, "slice refills")                                                                      \
  X(rekeys, "chacha20 key chains keyed from the kernel")                                           \
  X(generation_changes, "kernel CRNG generations observed to change")                              \
  X(generation_unknown, "refills (and overflow windows) where the generation could not be read")   \
  X(fork_resets, "times a child process rebuilt its state after fork")                             \
  X(fork_redraws, "draws redone because a fork or a dropped page cut them")                        \
  X(mlock_failures, "segments that could not be locked")                                           \
  X(locked_bytes, "bytes of slab currently mlock'd")                                               \
  X(droppable_bytes, "bytes of slab in MAP_DROPPABLE memory (not locked)")                         \
  X(slab_bytes, "bytes of slab currently mapped")                                                  \
  X(mmap_failures, "buffer mappings the kernel refused")                                           \
  X(slices_in_use, "slices owned by live threads")                                                 \
  X(shared_draws, "draws served from shared overflow slices")                                      \
  X(kernel_draws, "draws served straight from the kernel path")                                    \
  X(kernel_faults, "getrandom/vDSO errors seen (retried or routed elsewhere)")                     \
  X(urandom_fallbacks, "fills served by /dev/urandom (getrandom denied)")                          \
  X(threads_seen, "threads that ever drew")                                                        \
  X(hot_slices_in_use, "hot (larger) slices owned by threads that draw the most")                  \
  X(slices_dropped, "slices whose MAP_DROPPABLE page the kernel dropped (refilled, never served)") \
  X(vdso_fills, "buffer fills and keys the vDSO getrandom served")                                 \
  X(syscall_fills, "buffer fills and keys the getrandom syscall served")                           \
  X(percpu_fallbacks, "per-cpu strategy draws served elsewhere (per-thread strategy, kernel)")     \
  X(reservoir_refills,                                                                             \
    "small slice refills copied from the per-CPU reservoir (no key of their own)")                 \
  X(reservoir_draws, "draws past the slab budget served from the per-CPU reservoir")              \
  X(slices_split, "free slab segments split into smaller slices for more threads")

#define GRNDPOOL_STATS_VERSION 9

/* Counters of this process: a child after fork starts its own from zero
 * (gauges such as slab_bytes are recounted). A snapshot, each field read
 * independently. Set `size` to sizeof(struct grndpool_stats) before the call:
 * the library writes only the fields that fit, so a program built against an
 * older header keeps working.
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
GRNDPOOL_API void grndpool_get_stats(struct grndpool_stats * /* out */);
#ifndef __cplusplus
/* grndpool_get_stats() under its name before 0.3, kept for C programs. C++
 * does not see it: a function of the struct's name hides the struct there,
 * and `grndpool_stats st{};` would not compile. */
GRNDPOOL_API void grndpool_stats(struct grndpool_stats * /* out */);
#endif

/* What is in force, as one line of key=value fields: strategy, kernel path
 * (source=) and the kernel calls that actually filled (filled-by=vdso, syscall
 * or urandom, with counts), refill mode and whether the chacha20 keystream has
 * started, slab, slice and hot slice sizes, the generation mode and reseed
 * window, whether the slab is locked (yes, MAP_DROPPABLE, unlocked) and the
 * process id. It draws one byte first (and wipes it), so start-up, this
 * thread's slice and a fill have happened and the answer is not a guess.
 * The string is owned by the library and stays valid until the next call of
 * the same function on the same thread. Not async-signal-safe: it allocates,
 * and it waits for start-up running on another thread. */
GRNDPOOL_API const char *grndpool_describe(void);

/* The same fields as grndpool_describe(), rendered from the same table as one
 * JSON object on one line: {"strategy": "slab", "slab": 2097152, ...}; a key
 * is the line's with '_' for '-', sizes are numbers of bytes. Same ownership
 * and restrictions as grndpool_describe(). Since 0.4. */
GRNDPOOL_API const char *grndpool_describe_json(void);

/* Inline draws. With GCC or Clang on ELF, grndpool_u32(), grndpool_u64() and
 * grndpool_buf() with a constant size of at most 64 bytes are also defined
 * here as extern inline (GNU) functions, always inlined: a copy of the
 * library's per-draw path (a thread-local load, a bounds check, the copy, a
 * zeroing store and an ownership check; with GRND_TIMESTAMP in the vDSO, one
 * call of the vDSO before the copy; under GRNDPOOL_STRATEGY=per-cpu on
 * x86_64, the per-CPU buffer's rseq critical section for u32 and u64) that
 * calls the exported function for
 * everything else (first draw, refill, fork, reseed, other strategies, a
 * signal handler that interrupted a draw). Taking a function's address, dlsym()
 * and other languages reach the exported functions. Define GRNDPOOL_NO_INLINE
 * before including this header to call them always; to link your own
 * definitions of these functions (a test double), define it for every file
 * that includes the header, since inlined code calls the library directly.
 *
 * The structures below are the library's, not an API: they describe the
 * exported thread-local blocks grndpool_thread_v1 and grndpool_lane_v1, the
 * per-CPU table grndpool_percpu_v1 and the start of a slice, and their
 * layout is versioned by those symbols' names. A library with another layout
 * does not export them, so a program built against an older header fails to
 * load instead of misreading them. */
#if defined(__GNUC__) && defined(__ELF__)
/* may_alias: the library reads the same memory through its own types. */
struct __attribute__((__may_alias__)) grndpool_slice_v1 {
  int32_t grndpool_avail; /* bytes left; the next draw of n takes data[avail - n, avail) */
  uint32_t grndpool_private_0;
  uint32_t grndpool_owner; /* the owning thread's tag; 0 once fork or the kernel wiped it */
  uint32_t grndpool_private_1;
  uint32_t grndpool_epoch; /* the process epoch the data was made in (per-cpu buffers) */
  uint32_t grndpool_private_3;
  uint64_t grndpool_cookie;       /* GRND_TIMESTAMP's cookie when the data was made; 0: none */
  uint32_t grndpool_private_2[8]; /* the data follows this 64-byte header */
};
struct grndpool_thread_v1 {
  struct grndpool_slice_v1 *grndpool_slice; /* never NULL: a shared empty slice when unset */
  uint32_t grndpool_tag;                    /* this thread's owner tag */
  uint8_t grndpool_in_draw;                 /* set while the thread is inside a draw */
};
/* The per-draw lane, on a kernel whose vDSO answers GRND_TIMESTAMP: the slice
 * is served inline only after one call of the vDSO entry says the slice's
 * cookie is current. grndpool_thread_v1's slice is then the empty one, so a
 * program built against a header without the lane always calls the library. */
struct grndpool_lane_v1 {
  /* The vDSO getrandom the library found at start-up, as
   * vgetrandom(&cookie, 8, GRND_TIMESTAMP, NULL, 0): 0 while cookie is current.
   * Set by the thread's own first draw after start-up; called only while the
   * slice below has data. */
  long (*grndpool_vgetrandom)(void *, size_t, unsigned int, void *, size_t);
  struct grndpool_slice_v1 *grndpool_slice; /* never NULL: the shared empty slice when off */
};

#if defined(__linux__)
/* GRNDPOOL_STRATEGY=per-cpu (x86_64): one buffer per CPU, served in an rseq
 * critical section. grndpool_active is NULL until the library's pool serves
 * (and stays NULL with GRND_TIMESTAMP per draw, without rseq, or under
 * another strategy); the words are the library's: the process epoch, the
 * fork count, and the pool's live word (0 in a child until its reset). Since
 * 0.5. */
struct __attribute__((__aligned__(64))) grndpool_percpu_v1 {
  struct grndpool_slice_v1 *const *grndpool_active; /* [cpu]: the CPU's buffer or NULL */
  int64_t grndpool_rseq_offset;                     /* glibc's __rseq_offset */
  const uint32_t *grndpool_epoch;
  const uint32_t *grndpool_forks;
  const uint32_t *grndpool_live;
  uint32_t grndpool_cpus; /* entries in grndpool_active */
  uint32_t grndpool_private_0[5];
  /* Sections the kernel cut in inline draws (for tests), in a cache line of
   * its own: every draw reads the line above. */
  uint64_t grndpool_aborts;
  uint64_t grndpool_private_1[7];
};
#endif

/* The exported functions under second names (aliases in the library), for
 * the inline definitions to call: a definition calling its own name would be
 * recursion, which compilers refuse to inline. */
GRNDPOOL_API uint32_t grndpool_u32_outline(void);
GRNDPOOL_API uint64_t grndpool_u64_outline(void);
GRNDPOOL_API void grndpool_buf_outline(void *, size_t);

#if !defined(GRNDPOOL_NO_INLINE) && !defined(GRNDPOOL_BUILDING_LIBRARY)
extern __thread struct grndpool_thread_v1 grndpool_thread_v1
    __attribute__((__tls_model__("initial-exec")));
extern __thread struct grndpool_lane_v1 grndpool_lane_v1
    __attribute__((__tls_model__("initial-exec")));
#if defined(__x86_64__) && defined(__LP64__) && defined(__linux__) /* not x32 */
extern struct grndpool_percpu_v1 grndpool_percpu_v1;
#define GRNDPOOL_PERCPU_INLINE_ 1
#endif

#define GRNDPOOL_INLINE_ \
  extern __inline__ __attribute__((__always_inline__, __gnu_inline__, __no_instrument_function__))

/* Copies n bytes into the caller's buffer. On x86_64 memory to memory
 * (string moves), so no register keeps a copy that a signal frame or the
 * dynamic linker's lazy binding would later save on the stack: up to 32 bytes
 * one movsq per 8 bytes (movsl, movsw, movsb for the rest), since rep movsb's
 * start-up costs more than that (16 bytes: 2.4 ns against 8.5 on this
 * project's test machine); rep movsb above. ("movs{l|d}": movsl is movsd in
 * Intel syntax, for programs built with -masm=intel.) */
GRNDPOOL_INLINE_ void grndpool_copy_out_(void *grndpool_to_, const void *grndpool_from_,
                                         size_t grndpool_n_) {
#if defined(__x86_64__)
#define GRNDPOOL_MOVS_(insn) \
  __asm__ __volatile__(insn : "+D"(grndpool_to_), "+S"(grndpool_from_) : : "memory")
  if (grndpool_n_ <= 32) {
    for (; grndpool_n_ >= 8; grndpool_n_ -= 8) GRNDPOOL_MOVS_("movsq");
    if (grndpool_n_ & 4) GRNDPOOL_MOVS_("movs{l|d}");
    if (grndpool_n_ & 2) GRNDPOOL_MOVS_("movsw");
    if (grndpool_n_ & 1) GRNDPOOL_MOVS_("movsb");
    return;
  }
#undef GRNDPOOL_MOVS_
  __asm__ __volatile__("rep movsb"
                       : "+D"(grndpool_to_), "+S"(grndpool_from_), "+c"(grndpool_n_)
                       :
                       : "memory");
#else
  __builtin_memcpy(grndpool_to_, grndpool_from_, grndpool_n_);
#endif
}

#ifdef GRNDPOOL_PERCPU_INLINE_
/* One word (n: 4 or 8) from this CPU's buffer (GRNDPOOL_STRATEGY=per-cpu),
 * called inside the in-draw flag when the thread's slices cannot serve it,
 * in one rseq
 * critical section written into the caller's code: its descriptor goes into
 * the program's __rseq_cs section, its abort handler (with glibc's x86_64
 * signature) into __rseq_failure. The section checks the CPU, finds the
 * CPU's buffer, checks its epoch, moves the cursor down past the word, loads
 * it and zeroes it (the commit); a preemption, migration or signal inside it
 * moves the thread to the abort handler, so no two threads ever get the same
 * bytes. After it the area's rseq_cs is cleared (no descriptor of a
 * dlclose'd plugin stays armed), and a fork since (the fork count, or the
 * live word that reads 0 in a raw clone's child) discards the word. 0: the
 * library draws instead (empty or stale buffer, cut section, no pool, a
 * handler inside a draw, or a program built with -masm=intel: the section
 * is written in AT&T syntax only). The descriptor and the handler join the
 * section group of the code they are in ("?"): when the linker drops a
 * duplicate of an inline function (a C++ COMDAT), it drops them too. */
#ifdef __clang__
#pragma clang diagnostic push /* the section is one string, longer than C89 promises */
#pragma clang diagnostic ignored "-Woverlength-strings"
#endif
GRNDPOOL_INLINE_ int grndpool_percpu_word_(void *grndpool_out_, size_t grndpool_n_) {
  struct grndpool_slice_v1 *const *grndpool_a_;
  int64_t grndpool_off_;
  uint32_t grndpool_forks_, grndpool_st_;
  uint64_t grndpool_cpu_, grndpool_b_, grndpool_pos_, grndpool_w_;
  grndpool_a_ = __atomic_load_n(&grndpool_percpu_v1.grndpool_active, __ATOMIC_ACQUIRE);
  if (grndpool_a_ == 0) return 0;
  grndpool_off_ = grndpool_percpu_v1.grndpool_rseq_offset;
  grndpool_forks_ = __atomic_load_n(grndpool_percpu_v1.grndpool_forks, __ATOMIC_RELAXED);
#define GRNDPOOL_PERCPU_SECTION_(size, load, zero)                                       \
  __asm__ __volatile__(                                                                  \
      "{"                                                                                \
      "movl %%fs:4(%[off]), %k[cpu]\n\t" /* rseq cpu_id */                               \
      "cmpl %[cpus], %k[cpu]\n\t"        /* unregistered (-1, -2) or beyond the table */ \
      "jae 5f\n\t"                                                                       \
      ".pushsection __rseq_cs, \"aw?\"\n\t.balign 32\n\t3:\n\t"                          \
      ".long 0x0, 0x0\n\t.quad 1f, (2f - 1f), 4f\n\t.popsection\n\t"                     \
      "leaq 3b(%%rip), %[w]\n\t"                                                         \
      "movq %[w], %%fs:8(%[off])\n\t" /* rseq_cs */                                      \
      "1:\n\t"                                                                           \
      "cmpl %k[cpu], %%fs:4(%[off])\n\t"                                                 \
      "jnz 4f\n\t"                                                                       \
      "movq (%[active], %[cpu], 8), %[b]\n\t"                                            \
      "testq %[b], %[b]\n\t"                                                             \
      "jz 5f\n\t"                                                                        \
      "movl (%[epoch]), %k[w]\n\t"                                                       \
      "cmpl %k[w], 16(%[b])\n\t"                                                         \
      "jnz 5f\n\t"                                                                       \
      "movl (%[b]), %k[pos]\n\t"                                                         \
      "subl $" size                                                                      \
      ", %k[pos]\n\t"                                                                    \
      "jl 5f\n\t"                                                                        \
      "movl %k[pos], (%[b])\n\t" /* the cursor first */                                  \
      load "\n\t" zero                                                                   \
      "\n\t" /* the zeroing store commits */                                             \
      "2:\n\t"                                                                           \
      "xorl %k[st], %k[st]\n\t"                                                          \
      "jmp 6f\n\t"                                                                       \
      "5:\n\t"                                                                           \
      "movl $2, %k[st]\n\t"                                                              \
      "jmp 6f\n\t"                                                                       \
      ".pushsection __rseq_failure, \"ax?\"\n\t"                                         \
      ".byte 0x0f, 0xb9, 0x3d\n\t.long 0x53053053\n\t4:\n\tjmp 7f\n\t.popsection\n\t"    \
      "7:\n\t"                                                                           \
      "movl $1, %k[st]\n\t"                                                              \
      "6:\n\t"                                                                           \
      "movq $0, %%fs:8(%[off])"                                                          \
      "|mov %k[st], 2}" /* -masm=intel: the library draws */                             \
      : [w] "=&r"(grndpool_w_), [cpu] "=&r"(grndpool_cpu_), [b] "=&r"(grndpool_b_),      \
        [pos] "=&r"(grndpool_pos_), [st] "=&r"(grndpool_st_)                             \
      : [off] "r"(grndpool_off_), [cpus] "r"(grndpool_percpu_v1.grndpool_cpus),          \
        [active] "r"(grndpool_a_), [epoch] "r"(grndpool_percpu_v1.grndpool_epoch)        \
      : "memory", "cc")
  if (grndpool_n_ == 8)
    GRNDPOOL_PERCPU_SECTION_("8", "movq 64(%[b], %[pos]), %[w]", "movq $0, 64(%[b], %[pos])");
  else
    GRNDPOOL_PERCPU_SECTION_("4", "movl 64(%[b], %[pos]), %k[w]", "movl $0, 64(%[b], %[pos])");
#undef GRNDPOOL_PERCPU_SECTION_
  if (grndpool_st_ == 1)
    __atomic_fetch_add(&grndpool_percpu_v1.grndpool_aborts, 1, __ATOMIC_RELAXED);
  else if (grndpool_st_ == 0 &&
           (__atomic_load_n(grndpool_percpu_v1.grndpool_forks, __ATOMIC_SEQ_CST) !=
                grndpool_forks_ ||
            __atomic_load_n(grndpool_percpu_v1.grndpool_live, __ATOMIC_RELAXED) != 1))
    /* A fork (maybe from a signal handler) since the word was decided: both
     * processes would return it, so neither does. This narrows that window,
     * it does not close it: a fork after this check leaves both holding the
     * word, as after any draw has decided its result. */
    grndpool_st_ = 3;
  if (grndpool_st_ != 0) return 0;
  __builtin_memcpy(grndpool_out_, &grndpool_w_, grndpool_n_); /* little-endian: the low bytes */
  return 1;
}
#ifdef __clang__
#pragma clang diagnostic pop
#endif
#endif

/* Takes n bytes of the thread's slice into out; 0 when the library must serve
 * the draw (what was written to out is then not to be used). `bytes`: out is
 * the caller's buffer (copied memory to memory); otherwise a word the caller
 * gets back in a register anyway. Always inlined: no symbol of this name
 * exists. */
GRNDPOOL_INLINE_ int grndpool_take_(void *grndpool_out_, size_t grndpool_n_, int grndpool_bytes_) {
  struct grndpool_slice_v1 *grndpool_s_;
  unsigned char *grndpool_p_;
  int32_t grndpool_avail_;
  uint64_t grndpool_cookie_;
  int grndpool_served_ = 0;
  if (__builtin_expect(grndpool_thread_v1.grndpool_in_draw, 0))
    return 0; /* a handler inside a draw */
  grndpool_thread_v1.grndpool_in_draw = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  grndpool_s_ = grndpool_thread_v1.grndpool_slice;
  grndpool_avail_ = __atomic_load_n(&grndpool_s_->grndpool_avail, __ATOMIC_RELAXED);
  if (__builtin_expect(grndpool_avail_ < (int32_t)grndpool_n_, 0)) {
    /* The per-draw lane: its slice, if it has the bytes, and the vDSO's word
     * that the cookie they were made under is still current (a copy: the
     * vDSO writes the new cookie over it when not). */
    grndpool_s_ = grndpool_lane_v1.grndpool_slice;
    grndpool_avail_ = __atomic_load_n(&grndpool_s_->grndpool_avail, __ATOMIC_RELAXED);
    if (grndpool_avail_ < (int32_t)grndpool_n_) {
#ifdef GRNDPOOL_PERCPU_INLINE_
      /* GRNDPOOL_STRATEGY=per-cpu: no slice of its own, the CPU's buffer. */
      if (!grndpool_bytes_ && (grndpool_n_ == 4 || grndpool_n_ == 8))
        grndpool_served_ = grndpool_percpu_word_(grndpool_out_, grndpool_n_);
#endif
      goto grndpool_done_;
    }
    grndpool_cookie_ = grndpool_s_->grndpool_cookie;
    if (grndpool_lane_v1.grndpool_vgetrandom(&grndpool_cookie_, sizeof grndpool_cookie_,
                                             0x0008 /* GRND_TIMESTAMP */, (void *)0, 0) != 0)
      goto grndpool_done_;
  }
  grndpool_avail_ -= (int32_t)grndpool_n_;
  grndpool_p_ = (unsigned char *)(grndpool_s_ + 1) + grndpool_avail_;
  if (grndpool_bytes_)
    grndpool_copy_out_(grndpool_out_, grndpool_p_, grndpool_n_);
  else
    __builtin_memcpy(grndpool_out_, grndpool_p_, grndpool_n_);
  __builtin_memset(grndpool_p_, 0, grndpool_n_);
  __atomic_store_n(&grndpool_s_->grndpool_avail, grndpool_avail_, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  /* Not ours any more once a fork (also from a signal handler during the
   * copy or the vDSO call), the kernel or a new process epoch wiped or
   * staled the slice: the copy is then not trusted. */
  grndpool_served_ = __atomic_load_n(&grndpool_s_->grndpool_owner, __ATOMIC_RELAXED) ==
                     grndpool_thread_v1.grndpool_tag;
grndpool_done_:
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  grndpool_thread_v1.grndpool_in_draw = 0;
  return grndpool_served_;
}

GRNDPOOL_INLINE_ uint32_t grndpool_u32(void) {
  uint32_t grndpool_v_;
  if (__builtin_expect(grndpool_take_(&grndpool_v_, sizeof grndpool_v_, 0), 1)) return grndpool_v_;
  return grndpool_u32_outline();
}
GRNDPOOL_INLINE_ uint64_t grndpool_u64(void) {
  uint64_t grndpool_v_;
  if (__builtin_expect(grndpool_take_(&grndpool_v_, sizeof grndpool_v_, 0), 1)) return grndpool_v_;
  return grndpool_u64_outline();
}
/* Inline only for a size known at compile time, at most 64 bytes (tokens,
 * keys): the copy is then a few moves. */
GRNDPOOL_INLINE_ void grndpool_buf(void *grndpool_buf_, size_t grndpool_n_) {
  if (__builtin_constant_p(grndpool_n_) && grndpool_n_ > 0 && grndpool_n_ <= 64 &&
      __builtin_expect(grndpool_take_(grndpool_buf_, grndpool_n_, 1), 1))
    return;
  grndpool_buf_outline(grndpool_buf_, grndpool_n_);
}
#undef GRNDPOOL_INLINE_
#endif /* inline draws */
#endif /* GNU C on ELF */

#ifdef __cplusplus
}
#endif
#endif /* GRNDPOOL_GRNDPOOL_H */
