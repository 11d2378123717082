// SPDX-License-Identifier: Apache-2.0
// What leak_test's suites share (tests/leak_test.cc: LastSecret, and
// tests/leak_next_output.cc: NextOutput): the search of an image with its
// positive control, the counters, and which process configuration runs.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/memory_oracle.h"

namespace grndpool::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// gcore writes every readable mapping, a sanitizer's terabytes of shadow
// included (34 GB under ASan here); the plain build checks core dumps.
#define SKIP_CORE_DUMPS_UNDER_SANITIZERS(kind)                                        \
  do {                                                                                \
    if ((kind) == ImageKind::kCoreDump && kSanitized)                                 \
      GTEST_SKIP() << "gcore would write the sanitizer's shadow memory (tens of GB)"; \
  } while (0)

// The library's counters now.
struct grndpool_stats Snapshot();

// True in the process CTest runs with GRNDPOOL_SLAB_BYTES set (the overflow
// slice cases); every other case runs in the other one.
bool OverflowProcess();

// The .reservoir registration (its environment turns hot slices off): small
// slices that refill from the per-CPU reservoir (x86_64), whose refills the
// small_slice case must then see.
bool ReservoirProcess();

// Searches `image` for `needle`, then plants a copy in the heap and checks a
// new image of the same kind finds it (the control). Reports through gtest.
void ExpectAbsentWithControl(ImageKind kind, const MemoryImage &image, const uint8_t *needle,
                             size_t len, const std::string &what);

// A case of a leak suite: a row of the suite's own table (a kind of thread, a
// size of secret) and a kind of image.
template <class Row>
struct LeakCase {
  Row row;
  ImageKind image;
};

// Every row of a table of `rows` rows (Row 0, 1, ...) with every image kind.
template <class Row>
std::vector<LeakCase<Row>> EveryImageKind(size_t rows) {
  std::vector<LeakCase<Row>> cases;
  for (size_t r = 0; r < rows; ++r)
    for (ImageKind i : kAllImageKinds) cases.push_back({static_cast<Row>(r), i});
  return cases;
}

// The name of a case: `what` and the image kind's short name.
std::string CaseName(const char *what, ImageKind image);

}  // namespace grndpool::test
