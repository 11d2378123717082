// SPDX-License-Identifier: Apache-2.0
#include "tests/leak_check.h"

#include "tests/memory_search.h"
#include "tests/test_env.h"

namespace grndpool::test {

struct grndpool_stats Snapshot() {
  struct grndpool_stats s = {};
  s.size = sizeof s;
  grndpool_get_stats(&s);
  return s;
}

bool OverflowProcess() {
  for (const auto &[name, value] : TestEnvironment())
    if (name == "GRNDPOOL_SLAB_BYTES") return true;
  return false;
}

bool ReservoirProcess() {
  for (const auto &[name, value] : TestEnvironment())
    if (name == "GRNDPOOL_HOT_SLICE_BYTES" && value == "0") return true;
  return false;
}

void ExpectAbsentWithControl(ImageKind kind, const MemoryImage &image, const uint8_t *needle,
                             size_t len, const std::string &what) {
  ASSERT_TRUE(image.error().empty()) << image.error();
  const Found leaked = FindWindows(image, needle, len);
  EXPECT_EQ(leaked.windows, 0u) << ImageName(kind) << " holds " << leaked.windows
                                << " 16-byte windows of " << what << ", the first in "
                                << leaked.first_place;
  PlantedCopy planted(needle, len);
  const MemoryImage control = TakeImage(kind);
  ASSERT_TRUE(control.error().empty()) << control.error();
  const Found found = FindWindows(control, needle, len);
  EXPECT_GE(found.windows, len - 15)
      << "positive control: " << ImageName(kind) << " misses bytes planted in the heap";
  if (!kSanitized) {
    EXPECT_EQ(control.skipped_bytes(), 0u) << "a mapping over 64 GiB was left out";
  }
}

std::string CaseName(const char *what, ImageKind image) {
  return std::string(what) + "_" + ImageShortName(image);
}

}  // namespace grndpool::test
