// SPDX-License-Identifier: Apache-2.0
// The C++ layer as a C++ user writes it (issue 19): the C struct without the
// `struct` keyword, grndpool::stats() and grndpool::describe(), and the
// contract of grndpool::uniform() at its edges. The compile-time half (C++17,
// uniform<bool>) is tests/header/check_cxx.sh.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

#include "grndpool/grndpool.hpp"

namespace grndpool::test {
namespace {

// Every integer type but bool; bool is refused by the signature, not from
// inside <type_traits>.
template <class T>
concept CanDrawUniform = requires(T v) {
  grndpool::uniform<T>(v, v);
};
static_assert(CanDrawUniform<char>);
static_assert(CanDrawUniform<unsigned long long>);
static_assert(CanDrawUniform<int8_t>);
static_assert(!CanDrawUniform<bool>);
static_assert(!CanDrawUniform<const bool>);
static_assert(!CanDrawUniform<double>);

TEST(CxxApi, CStructNeedsNoKeyword) {
  grndpool_stats st{};
  st.size = sizeof st;
  grndpool_get_stats(&st);
  EXPECT_EQ(st.version, static_cast<uint32_t>(GRNDPOOL_STATS_VERSION));
}

TEST(CxxApi, StatsReturnsTheCounters) {
  const grndpool_stats before = grndpool::stats();
  EXPECT_EQ(before.size, sizeof(grndpool_stats));
  EXPECT_EQ(before.version, static_cast<uint32_t>(GRNDPOOL_STATS_VERSION));
  unsigned char buf[4096];
  grndpool_buf(buf, sizeof buf);
  const grndpool_stats after = grndpool::stats();
  EXPECT_GE(after.bytes_served, before.bytes_served + sizeof buf);
  EXPECT_GE(after.threads_seen, 1u);
}

TEST(CxxApi, DescribeIsTheCLine) {
  const std::string line = grndpool::describe();
  EXPECT_EQ(line, std::string(grndpool_describe()));
  EXPECT_NE(line.find("strategy="), std::string::npos) << line;
}

TEST(CxxApi, UniformRefusesAnEmptyRange) {
  try {
    (void)grndpool::uniform(5, 1);
    FAIL() << "uniform(5, 1) returned instead of throwing";
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "grndpool::uniform(5, 1): hi is below lo; accepted: lo <= hi");
  }
  EXPECT_THROW((void)grndpool::uniform<int64_t>(INT64_MAX, INT64_MIN), std::invalid_argument);
  EXPECT_THROW((void)grndpool::uniform<uint64_t>(1, 0), std::invalid_argument);
  EXPECT_THROW((void)grndpool::uniform<unsigned char>(200, 100), std::invalid_argument);
  try {
    (void)grndpool::uniform<uint64_t>(UINT64_MAX, 0);
  } catch (const std::invalid_argument &e) {
    EXPECT_NE(std::string(e.what()).find("(18446744073709551615, 0)"), std::string::npos)
        << e.what();
  }
}

TEST(CxxApi, UniformCoversItsClosedRange) {
  EXPECT_EQ(grndpool::uniform(5, 5), 5);
  EXPECT_EQ(grndpool::uniform<int8_t>(INT8_MIN, INT8_MIN), INT8_MIN);
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) {
    const int v = grndpool::uniform(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
  std::set<char> letters;
  for (int i = 0; i < 2000; ++i) letters.insert(grndpool::uniform<char>('a', 'c'));
  EXPECT_EQ(letters, (std::set<char>{'a', 'b', 'c'}));
  // Full ranges: no overflow computing the span.
  bool negative = false, positive = false;
  for (int i = 0; i < 200; ++i) {
    const int v = grndpool::uniform(INT_MIN, INT_MAX);
    negative |= v < 0;
    positive |= v > 0;
  }
  EXPECT_TRUE(negative && positive);
  bool high = false;
  for (int i = 0; i < 200; ++i) high |= grndpool::uniform<uint64_t>(0, UINT64_MAX) > UINT32_MAX;
  EXPECT_TRUE(high);
}

}  // namespace
}  // namespace grndpool::test
