// SPDX-License-Identifier: Apache-2.0
#include "lib/scrub.h"

#include <atomic>
#include <cstdint>
#include <cstring>

namespace grndpool {
namespace {

#if defined(__x86_64__)
// AVX-512: zmm16-31 exist and vzeroall does not reach them.
[[gnu::target("avx512f")]] void ZeroHighZmm() {
  __asm__ volatile(
      "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
      "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
      "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
      "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
      "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
      "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
      "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
      "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      :
      :
      : "xmm0", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
        "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

// AVX: vzeroall zeroes ymm0-15 whole (zmm0-15 too).
[[gnu::target("avx")]] void ZeroYmm() {
  __asm__ volatile("vzeroall" ::
                       : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                         "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

void ZeroXmm() {
  __asm__ volatile(
      "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
      "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
      "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
      "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
      "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
      "pxor %%xmm15, %%xmm15\n\t" ::
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
            "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

enum class VectorIsa : uint8_t { kUnknown, kSse, kAvx, kAvx512 };

// __builtin_cpu_supports checks that the kernel saves the state (XCR0) too.
VectorIsa Probe() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return VectorIsa::kAvx512;
  if (__builtin_cpu_supports("avx")) return VectorIsa::kAvx;
  return VectorIsa::kSse;
}
#endif

}  // namespace

void WipeRegisters() {
#if defined(__x86_64__)
  // Not a function-local static: its initialisation guard, copied into a
  // child forked while another thread ran Probe(), would read "in progress"
  // there for ever, and the child's first draw would wait on it. Probing
  // twice is harmless (cpuid; libgcc's init is idempotent).
  static std::atomic<VectorIsa> known{VectorIsa::kUnknown};
  VectorIsa isa = known.load(std::memory_order_relaxed);
  if (isa == VectorIsa::kUnknown) {
    isa = Probe();
    known.store(isa, std::memory_order_relaxed);
  }
  if (isa == VectorIsa::kAvx512) ZeroHighZmm();
  if (isa == VectorIsa::kSse)
    ZeroXmm();
  else
    ZeroYmm();
  __asm__ volatile(
      "xorl %%ecx, %%ecx\n\txorl %%esi, %%esi\n\txorl %%edi, %%edi\n\t"
      "xorl %%r8d, %%r8d\n\txorl %%r9d, %%r9d\n\txorl %%r10d, %%r10d\n\txorl %%r11d, %%r11d" ::
          : "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11");
#elif defined(__aarch64__)
  // v8-v15 are callee-saved in their low halves: a callee that used them
  // restored the caller's values; their high halves and the rest are ours.
  __asm__ volatile(
      "movi v0.16b, #0\n\tmovi v1.16b, #0\n\tmovi v2.16b, #0\n\tmovi v3.16b, #0\n\t"
      "movi v4.16b, #0\n\tmovi v5.16b, #0\n\tmovi v6.16b, #0\n\tmovi v7.16b, #0\n\t"
      "mov v8.d[1], xzr\n\tmov v9.d[1], xzr\n\tmov v10.d[1], xzr\n\tmov v11.d[1], xzr\n\t"
      "mov v12.d[1], xzr\n\tmov v13.d[1], xzr\n\tmov v14.d[1], xzr\n\tmov v15.d[1], xzr\n\t"
      "movi v16.16b, #0\n\tmovi v17.16b, #0\n\tmovi v18.16b, #0\n\tmovi v19.16b, #0\n\t"
      "movi v20.16b, #0\n\tmovi v21.16b, #0\n\tmovi v22.16b, #0\n\tmovi v23.16b, #0\n\t"
      "movi v24.16b, #0\n\tmovi v25.16b, #0\n\tmovi v26.16b, #0\n\tmovi v27.16b, #0\n\t"
      "movi v28.16b, #0\n\tmovi v29.16b, #0\n\tmovi v30.16b, #0\n\tmovi v31.16b, #0\n\t"
      "mov x9, xzr\n\tmov x10, xzr\n\tmov x11, xzr\n\tmov x12, xzr\n\tmov x13, xzr\n\t"
      "mov x14, xzr\n\tmov x15, xzr\n\tmov x16, xzr\n\tmov x17, xzr" ::
          : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",
            "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25",
            "v26", "v27", "v28", "v29", "v30", "v31", "x9", "x10", "x11", "x12", "x13", "x14",
            "x15", "x16", "x17");
#endif
}

[[gnu::noinline]] void ScrubStackBelow(size_t bytes) {
  // A variable-length frame here covers the callees' dead frames below the
  // caller; explicit_bzero cannot be optimised away.
  uint8_t *scratch = static_cast<uint8_t *>(__builtin_alloca(bytes));
  explicit_bzero(scratch, bytes);
  __asm__ volatile("" : : "r"(scratch) : "memory");
}

}  // namespace grndpool
