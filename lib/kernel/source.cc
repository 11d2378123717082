// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel/source.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "lib/kernel/syscall.h"
#include "lib/kernel/vdso_names.h"
#include "lib/kernel/vdso_state_pool.h"

namespace grndpool::kernel {
namespace {

// The seed's 3-argument entry ignores the last two registers, so calling the
// 5-argument way is safe on both.
VdsoGetrandomFn g_vdso = nullptr;
VdsoStatePool g_state_pool;
bool g_state_generation_known = false;
size_t g_state_size = 0;  // what the vDSO reported for its opaque state
thread_local void *t_vdso_state [[gnu::tls_model("initial-exec")]] = nullptr;
thread_local bool t_acquiring [[gnu::tls_model("initial-exec")]] = false;

// The thread's state, or nullptr (use the syscall) while a signal handler has
// interrupted this thread's own acquisition.
void *ThreadVdsoState() {
  if (t_vdso_state == nullptr && !t_acquiring) {
    t_acquiring = true;
    void *state = g_state_pool.Acquire();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_vdso_state = state;
    t_acquiring = false;
  }
  return t_vdso_state;
}

// EINTR and EAGAIN from the vDSO are retried this many times, no more: under a
// filter that answers its reseed syscall with them it would never succeed.
constexpr int kMaxVdsoRetries = 100;

FillPath VdsoFill(void *buf, size_t len) {
  auto *out = static_cast<unsigned char *>(buf);
  void *state = ThreadVdsoState();
  int retries = 0;
  while (len > 0 && state != nullptr) {
    long got = g_vdso(out, len, 0, state, g_state_size);
    if (got > 0) {
      out += got;
      len -= static_cast<size_t>(got);
      continue;
    }
    g_faults.fetch_add(1, std::memory_order_relaxed);
    // Anything else (e.g. seccomp denying its syscall), or retries spent.
    if ((got != -EINTR && got != -EAGAIN) || ++retries >= kMaxVdsoRetries) break;
  }
  return len > 0 ? SyscallFill(out, len) : FillPath::kVdso;
}

bool VdsoStateGeneration(uint64_t *generation) {
  void *state = ThreadVdsoState();
  if (state == nullptr || !g_state_generation_known) return false;
  unsigned char scratch;
  // A call of at least one byte makes the vDSO compare its state with the kernel's
  // generation and rekey it, so the state then holds the current generation.
  if (g_vdso(&scratch, 1, 0, state, g_state_size) != 1) {
    g_faults.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  explicit_bzero(&scratch, 1);
  memcpy(generation, static_cast<char *>(state) + kStateGenerationOffset, sizeof *generation);
  return true;
}

long VdsoTimestamp(uint64_t *cookie) {
  return g_vdso(cookie, 8, kGrndTimestamp, nullptr, 0);
}
long SyscallTimestamp(uint64_t *cookie) {
  return SyscallGetrandom(cookie, 8, kGrndTimestamp);
}

// generation() for sources that only have GRND_TIMESTAMP through the syscall: the
// cookie is ~generation, so keep it and return it inverted.
bool SyscallTimestampGeneration(uint64_t *generation) {
  thread_local uint64_t cookie = 0;
  if (SyscallTimestamp(&cookie) < 0) return false;
  *generation = ~cookie;
  return true;
}
bool UnknownGeneration(uint64_t *) {
  return false;
}
long NoTimestamp(uint64_t *) {
  return -EINVAL;
}

void ReleaseState() {
  g_state_pool.Release(t_vdso_state);
  t_vdso_state = nullptr;
}

// True when `call` implements the GRND_TIMESTAMP contract: a zero cookie is never
// current, so the first call must return 8 and store a cookie that is then current.
bool TimestampWorks(long (*call)(uint64_t *)) {
  uint64_t cookie = 0;
  if (call(&cookie) != 8) return false;
  return call(&cookie) == 0 || call(&cookie) == 0;  // a reseed may land between calls
}

// The generation at kStateGenerationOffset of the kernel's private
// vgetrandom_state (Linux 6.11 to 6.18) is checked, not trusted: two states,
// each just used for a byte (which keys it for the current generation), must
// hold the same value there, nonzero and small enough to count reseeds. The
// key and batch bytes around it would differ between states. Tried twice: a
// reseed may land between the two calls.
bool StateLayoutChecked() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    void *a = g_state_pool.Acquire();
    void *b = g_state_pool.Acquire();
    uint64_t ga = 0, gb = 0;
    unsigned char scratch;
    const bool called = a != nullptr && b != nullptr &&
                        g_vdso(&scratch, 1, 0, a, g_state_size) == 1 &&
                        g_vdso(&scratch, 1, 0, b, g_state_size) == 1;
    explicit_bzero(&scratch, 1);
    if (called) {
      memcpy(&ga, static_cast<char *>(a) + kStateGenerationOffset, sizeof ga);
      memcpy(&gb, static_cast<char *>(b) + kStateGenerationOffset, sizeof gb);
    }
    g_state_pool.Release(a);
    g_state_pool.Release(b);
    if (called && ga == gb && ga != 0 && ga < (uint64_t{1} << 40)) return true;
  }
  return false;
}

KernelOps g_selected;

}  // namespace

SelectedSource SelectSource(SourceRequest choice) {
  // Each architecture names its entry its own way (vdso_names.h); powerpc's is
  // not callable as a C function, so it is not looked up.
  const grndpool_vdso_names *names = NativeVdsoNames();
  g_vdso =
      names != nullptr && names->c_callable
          ? reinterpret_cast<VdsoGetrandomFn>(Seam().find_vdso(names->getrandom, names->version))
          : nullptr;
  VgetrandomOpaqueParams params{};
  if (g_vdso != nullptr) {
    // A 3-argument (seed) entry treats this as getrandom(NULL, 0, 0) and leaves
    // params zeroed, which reads as "no per-thread state".
    if (g_vdso(nullptr, 0, 0, &params, ~0UL) != 0) memset(&params, 0, sizeof params);
    g_state_pool.Init({params.size_of_opaque_state, params.mmap_prot, params.mmap_flags});
  }
  const bool vdso_fill = g_vdso != nullptr && params.size_of_opaque_state != 0;
  g_state_size = params.size_of_opaque_state;
  g_state_generation_known =
      vdso_fill && params.size_of_opaque_state == kKnownStateSize && StateLayoutChecked();
  const bool ts_vdso = g_vdso != nullptr && TimestampWorks(VdsoTimestamp);
  const bool ts_syscall = ts_vdso || TimestampWorks(SyscallTimestamp);

  SelectedSource out{};
  if (choice == SourceRequest::kGrndTimestamp && !ts_syscall) {
    out.unavailable = "getrandom() answers GRND_TIMESTAMP with EINVAL";
    choice = SourceRequest::kAuto;
  }
  if (choice == SourceRequest::kVdso && !vdso_fill) {
    out.unavailable = "no vDSO getrandom() (Linux >= 6.11 on x86_64, >= 6.12 on arm64)";
    choice = SourceRequest::kAuto;
  }

  g_selected = KernelOps{};
  g_selected.thread_exit = ReleaseState;
  g_selected.fill = (choice != SourceRequest::kSyscall && vdso_fill) ? VdsoFill : SyscallFill;
  const char *fill_name = g_selected.fill == VdsoFill ? "vdso" : "syscall";

  // How the generation is learnt, by what this kernel has.
  struct How {
    const char *name;
    GenerationMode mode;
    long (*timestamp)(uint64_t *);
    bool (*generation)(uint64_t *);
    const char *what;
  };
  const bool from_state = g_selected.fill == VdsoFill && g_state_generation_known;
  const How how =
      (choice == SourceRequest::kAuto || choice == SourceRequest::kGrndTimestamp) && ts_syscall
          ? (ts_vdso ? How{"grnd_timestamp", GenerationMode::kPerDraw, VdsoTimestamp,
                           UnknownGeneration, "vdso, checked every draw"}
                     : How{"grnd_timestamp", GenerationMode::kPerRefill, NoTimestamp,
                           SyscallTimestampGeneration, "syscall, checked every refill"})
      : from_state ? How{fill_name, GenerationMode::kPerRefill, NoTimestamp, VdsoStateGeneration,
                         "generation from vDSO state (layout checked), checked every refill"}
                   : How{fill_name, GenerationMode::kUnknown, NoTimestamp, UnknownGeneration,
                         "generation unknown: every refill takes kernel bytes"};
  g_selected.name = how.name;
  g_selected.mode = how.mode;
  g_selected.timestamp = how.timestamp;
  g_selected.generation = how.generation;
  // Only where the vDSO itself answers GRND_TIMESTAMP (TimestampWorks above).
  g_selected.vgetrandom = how.mode == GenerationMode::kPerDraw ? g_vdso : nullptr;
  const bool name_fill =
      how.mode == GenerationMode::kPerDraw || how.generation == SyscallTimestampGeneration;
  snprintf(out.description, sizeof out.description, "%s(%s%s%s)", how.name, how.what,
           name_fill ? "; fill " : "", name_fill ? fill_name : "");
  out.ops = &g_selected;
  return out;
}

}  // namespace grndpool::kernel
