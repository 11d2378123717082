// SPDX-License-Identifier: Apache-2.0
#include "tests/fault_cases.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tests/fault_seams.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

bool Has(const std::string &line, const char *what) {
  return line.find(what) != std::string::npos;
}

void GetrandomFails(GetrandomFault fault, int err = 0) {
  g_getrandom_fault = fault;
  g_getrandom_errno = err;
  g_vdso_fault = VdsoFault::kAbsent;  // so every fill goes through getrandom(2)
}

// getrandom retried after EINTR/EAGAIN: counted, never routed to /dev/urandom.
void ExpectRetried(const StatsT &s, const std::string &d) {
  EXPECT_GT(g_injected_errors.load(), 0u);
  EXPECT_GT(s.kernel_faults, 0u);
  EXPECT_EQ(s.urandom_fallbacks, 0u);
  EXPECT_TRUE(Has(d, "source=syscall")) << d;
}
// getrandom denied: every fill served by /dev/urandom, and describe says so.
void ExpectUrandom(const StatsT &s, const std::string &d) {
  EXPECT_GT(s.kernel_faults, 0u);
  EXPECT_GT(s.urandom_fallbacks, 0u);
  EXPECT_TRUE(Has(d, "urandom")) << "describe does not name the /dev/urandom fallback: " << d;
}
// The generation cannot be read: every refill takes a fresh kernel key.
void ExpectEveryRefillRekeyed(const StatsT &s, const std::string &d) {
  EXPECT_GT(s.refills, 0u);
  EXPECT_GE(s.rekeys, s.refills);
  EXPECT_TRUE(Has(d, "unknown") || Has(d, "unreadable")) << d;
}

const Fault kFaults[] = {
    {"none", [] {},
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.kernel_faults, 0u);
       EXPECT_EQ(s.urandom_fallbacks, 0u);
       EXPECT_EQ(s.mmap_failures, 0u);
       EXPECT_TRUE(Has(d, "source=vdso")) << d;
     }},
    {"eintr_alternate", [] { GetrandomFails(GetrandomFault::kEintrAlternate); }, ExpectRetried},
    {"eagain_alternate", [] { GetrandomFails(GetrandomFault::kEagainAlternate); }, ExpectRetried},
    {"eintr_always", [] { GetrandomFails(GetrandomFault::kEintrAlways); },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GE(s.kernel_faults, 100u);  // the retries were bounded, then /dev/urandom
       ExpectUrandom(s, d);
     }},
    {"enosys", [] { GetrandomFails(GetrandomFault::kError, ENOSYS); }, ExpectUrandom},
    {"eperm", [] { GetrandomFails(GetrandomFault::kError, EPERM); }, ExpectUrandom},
    {"efault", [] { GetrandomFails(GetrandomFault::kError, EFAULT); }, ExpectUrandom},
    {"short_reads", [] { GetrandomFails(GetrandomFault::kShortReads); },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(g_short_reads.load(), 0u);
       EXPECT_EQ(s.kernel_faults, 0u);  // a short read is no error
       EXPECT_EQ(s.urandom_fallbacks, 0u);
       EXPECT_TRUE(Has(d, "source=syscall")) << d;
     }},
    {"no_vdso", [] { g_vdso_fault = VdsoFault::kAbsent; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_TRUE(Has(d, "source=syscall")) << d;
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"vdso_state_160", [] { g_vdso_fault = VdsoFault::kStateSize160; },
     [](const StatsT &s, const std::string &d) {
       // The generation offset is only known for the 144-byte layout.
       ExpectEveryRefillRekeyed(s, d);
       EXPECT_EQ(g_vdso_wrong_state_len.load(), 0u)
           << "vDSO fills passed an opaque_len other than the size the vDSO reported (160)";
     }},
    // A state layout the library does not recognise: its start-up check finds
    // no generation at the known offset and reads none.
    {"vdso_layout_moved", [] { g_vdso_fault = VdsoFault::kLayoutMoved; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(g_layout_overwrites.load(), 0u) << "the fault never ran";
       EXPECT_TRUE(Has(d, "source=vdso(generation unknown")) << d;
       ExpectEveryRefillRekeyed(s, d);
       EXPECT_EQ(s.generation_changes, 0u) << "a moved layout was read as generations";
     }},
    {"vdso_enosys", [] { g_vdso_fault = VdsoFault::kEnosys; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.kernel_faults, 0u);
       EXPECT_GT(s.generation_unknown, 0u);
       EXPECT_EQ(s.urandom_fallbacks, 0u);  // the syscall still works
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"vdso_eintr_always", [] { g_vdso_fault = VdsoFault::kEintrAlways; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.kernel_faults, 0u);
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"mmap_all", [] { g_map_fail_from = 1; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_EQ(s.slab_bytes, 0u);
       EXPECT_TRUE(Has(d, "kernel-only")) << d;
     }},
    // Start-up maps, in order: 1 the MADV_WIPEONFORK probe's page, 2 the
    // slices' claim words, 3 the segments' slice sizes, 4 the slice
    // directory's array, 5 the canary; the first draw then maps 6, the first
    // slab segment.
    {"mmap_slice_sizes", [] { g_map_fail_from = g_map_fail_to = 3; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(g_failed_maps.load(), 1u);
       EXPECT_GT(s.mmap_failures, 0u);
       // No owned slices without their sizes: every thread on the overflow.
       EXPECT_EQ(s.slices_in_use, 0u);
       EXPECT_GT(s.shared_draws + s.reservoir_draws, 0u) << d;
     }},
    {"mmap_canary", [] { g_map_fail_from = g_map_fail_to = 5; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(g_failed_maps.load(), 1u);
       EXPECT_TRUE(Has(d, "kernel-only")) << d;
       EXPECT_GT(s.mmap_failures, 0u) << "the canary's failed mapping is not counted";
       // Without a canary a raw-clone child is never reset: no buffer may be used.
       EXPECT_EQ(s.slab_bytes, 0u) << "the slab is in use while describe says kernel-only: " << d;
     }},
    // Calls 1-6 (see mmap_canary) succeed; the slab cannot grow after that.
    {"mmap_slab_after_first", [] { g_map_fail_from = 7; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.slab_bytes, PageBytes());  // the first segment only
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_TRUE(Has(d, "mmap-failures")) << d;
     }},
    // An 8 KiB budget of 4 KiB slices (CTest adds GRNDPOOL_SLAB_BYTES=8K and
    // GRNDPOOL_SLICE_BYTES=4K): one owned segment (4 slices at most, however
    // many threads wait) and the overflow segment, which is every mapping
    // after the first six.
    {"mmap_overflow", [] { g_map_fail_from = 7; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.slab_bytes, PageBytes());  // the owned segment, no overflow segment
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_EQ(s.shared_draws, 0u);
       EXPECT_GT(s.kernel_draws, 0u);
       EXPECT_TRUE(Has(d, "mmap-failures")) << d;
     }},
    {"mlock", [] { g_lock_fails = true; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.mlock_failures, 0u);
       EXPECT_EQ(s.locked_bytes, 0u);
       if (KernelHasMapDroppable()) {
         EXPECT_GT(s.droppable_bytes, 0u);
         EXPECT_TRUE(Has(d, "MAP_DROPPABLE")) << d;
       } else {
         EXPECT_TRUE(Has(d, "unlocked")) << d;
       }
     }},
};

}  // namespace

const Fault *FindFault(const char *name) {
  for (const Fault &f : kFaults)
    if (strcmp(f.name, name) == 0) return &f;
  return nullptr;
}

}  // namespace grndpool::test
