// SPDX-License-Identifier: Apache-2.0
// The public API on the real kernel: values, distributions, the C++ layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "grndpool/grndpool.hpp"
#include "test_util.h"

namespace grndpool::test {
namespace {

TEST(Api, DescribeNamesEverything) {
  const std::string line = grndpool_describe();
  for (const char *word : {"strategy=", "source=", "refill=", "slab=", "slice=", "locked="})
    EXPECT_NE(line.find(word), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

// Describe draws first, so it reports what was in force, not defaults: the
// slab is mapped and locked (or says why not), and a kernel call has filled.
TEST(Api, DescribeTellsWhatHappened) {
  const std::string line = grndpool_describe();
  EXPECT_EQ(line.find("locked=not-yet"), std::string::npos) << line;
  EXPECT_EQ(line.find("filled-by=none"), std::string::npos) << line;
  for (const char *word : {" keystream=", " filled-by=", " generation=", " pid="})
    EXPECT_NE(line.find(word), std::string::npos) << line;
}

// A flat JSON object's members: key -> the value as the line writes it (a
// string unescaped, a number as its digits).
std::vector<std::pair<std::string, std::string>> JsonMembers(const std::string &json,
                                                             std::vector<bool> *is_number) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 1;
  auto string_at = [&](size_t &at) {
    std::string s;
    for (++at; at < json.size() && json[at] != '"'; ++at) {
      if (json[at] == '\\') ++at;
      s += json[at];
    }
    ++at;
    return s;
  };
  while (i < json.size() && json[i] == '"') {
    const std::string key = string_at(i);
    EXPECT_EQ(json.compare(i, 2, ": "), 0) << json.substr(i);
    i += 2;
    std::string value;
    const bool number = json[i] != '"';
    if (number) {
      const size_t end = json.find_first_of(",}", i);
      value = json.substr(i, end - i);
      i = end;
    } else {
      value = string_at(i);
    }
    out.emplace_back(key, value);
    is_number->push_back(number);
    if (json.compare(i, 2, ", ") == 0) i += 2;
  }
  EXPECT_EQ(json.substr(i), "}") << "not a flat JSON object: " << json;
  return out;
}

// The first member of `json` that `line` does not hold as a field, in the
// same order and with the same value (a number of bytes written NB on the
// line); "" when there is none.
std::string FirstMismatch(const std::string &json, const std::string &line) {
  std::vector<bool> is_number;
  const auto members = JsonMembers(json, &is_number);
  if (members.size() < 15) return "too few members";
  size_t at = 0;
  for (size_t m = 0; m < members.size(); ++m) {
    std::string key = members[m].first;
    std::replace(key.begin(), key.end(), '_', '-');
    const std::string field = " " + key + "=" + members[m].second;
    size_t found = std::string::npos;
    for (const std::string &end : is_number[m] ? std::vector<std::string>{" ", "B ", "B", ""}
                                               : std::vector<std::string>{" ", ""}) {
      found = line.find(field + end, at);
      if (found != std::string::npos && (!end.empty() || found + field.size() == line.size()))
        break;
      found = std::string::npos;
    }
    if (found == std::string::npos) return members[m].first + "=" + members[m].second;
    at = found + 1;
  }
  return "";
}

// The JSON and the line are rendered from one table: every member of the
// JSON is a field of the line, in the same order, with the same value.
TEST(Api, DescribeJsonIsTheLine) {
  std::string json, line, mismatch;
  // A counter (vdso-fills) may move between the two calls when the second's
  // draw refills: that round is taken again.
  for (int round = 0; round < 3; ++round) {
    json = grndpool_describe_json();
    line = grndpool_describe();
    mismatch = FirstMismatch(json, line);
    if (mismatch.empty()) break;
  }
  EXPECT_EQ(mismatch, "") << "JSON member not in the line\n" << line << "\n" << json;
  EXPECT_NE(json.find("\"pid\": " + std::to_string(getpid())), std::string::npos) << json;
  EXPECT_NE(json.find("\"hot_slice\": "), std::string::npos) << "keys use '_' for '-'";
  EXPECT_EQ(grndpool::describe_json().front(), '{');
  // Positive control: a value changed on the line is found.
  // (The slab's size is whatever is in force: the guest runs a smaller one.)
  const size_t value = line.find(" slab=") + 6;
  ASSERT_NE(value, std::string::npos + 6) << line;
  const std::string slab = line.substr(value, line.find('B', value) - value);
  std::string changed = line;
  changed.replace(value, 1, "9");
  EXPECT_EQ(FirstMismatch(json, changed), "slab=" + slab) << changed;
}

TEST(Api, WordsAreNotConstant) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(grndpool_u64());
  EXPECT_EQ(seen.size(), 1000u);
  uint32_t all_or = 0, all_and = ~0u;
  for (int i = 0; i < 1000; ++i) {
    uint32_t v = grndpool_u32();
    all_or |= v;
    all_and &= v;
  }
  EXPECT_EQ(all_or, ~0u);  // every bit seen set
  EXPECT_EQ(all_and, 0u);  // and clear
}

TEST(Api, BufferOfEverySizeIsFilled) {
  for (size_t n : {1, 3, 7, 15, 64, 959, 960, 961, 4096, 100000}) {
    std::vector<uint8_t> buf(n + 2, 0);
    grndpool_buf(buf.data() + 1, n);
    EXPECT_EQ(buf[0], 0);
    EXPECT_EQ(buf[n + 1], 0);
    if (n >= 64) {
      // All-zero runs of 16 bytes do not happen by chance.
      for (size_t i = 1; i + 16 <= n + 1; i += 16)
        EXPECT_TRUE(
            std::any_of(buf.begin() + i, buf.begin() + i + 16, [](uint8_t b) { return b; }));
    }
  }
  grndpool_buf(nullptr, 0);  // a no-op, not a crash
}

// Chi-square goodness of fit for small bounds. The critical values are for
// p = 0.0001; a case over it is drawn once more and fails only if the second
// sample is over it too, so a correct implementation fails about once in
// 10^8 runs per case (this test runs in many variants and three builds),
// while a biased one, over it on every sample, still fails.
double ChiSquare(uint32_t bound) {
  const int draws = 200000;
  std::vector<int> counts(bound, 0);
  for (int i = 0; i < draws; ++i) {
    const uint32_t v = grndpool_uniform(bound);
    if (v >= bound) return 1e300;
    ++counts[v];
  }
  const double expected = static_cast<double>(draws) / bound;
  double chi2 = 0;
  for (int k : counts) chi2 += (k - expected) * (k - expected) / expected;
  return chi2;
}

TEST(Uniform, UnbiasedOnSmallBounds) {
  const struct {
    uint32_t bound;
    double critical;
  } cases[] = {{2, 15.14}, {3, 18.42}, {6, 25.75}, {7, 27.86}, {10, 33.72}, {100, 148.2}};
  for (const auto &c : cases) {
    const double first = ChiSquare(c.bound);
    if (first < c.critical) continue;
    const double second = ChiSquare(c.bound);
    EXPECT_LT(second, c.critical) << "bound " << c.bound << ": chi-square " << first << " then "
                                  << second;
  }
}

// A bound just above 2^31 is where modulo reduction is most biased: values below
// 2^32 mod bound would come up twice as often. Lemire's method must not.
TEST(Uniform, NoModuloBiasNearHalfRange) {
  const uint32_t bound = 0x80000001u * 1u + 0x40000000u;  // 3 * 2^30 + 1
  const uint32_t cut = static_cast<uint32_t>((1ull << 32) % bound);
  int low = 0;
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) low += grndpool_uniform(bound) < cut;
  const double p = static_cast<double>(cut) / bound;
  const double sigma = std::sqrt(draws * p * (1 - p));
  EXPECT_LT(std::fabs(low - draws * p), 5 * sigma);
}

TEST(Uniform, DegenerateBounds) {
  EXPECT_EQ(grndpool_uniform(0), 0u);
  EXPECT_EQ(grndpool_uniform(1), 0u);
}

TEST(Cpp, EngineWorksWithRandom) {
  grndpool::engine e;
  std::uniform_int_distribution<int> die(1, 6);
  std::array<int, 7> counts{};
  for (int i = 0; i < 60000; ++i) ++counts[die(e)];
  for (int face = 1; face <= 6; ++face) EXPECT_NEAR(counts[face], 10000, 600);
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 0);
  std::shuffle(v.begin(), v.end(), e);
  EXPECT_FALSE(std::is_sorted(v.begin(), v.end()));
}

TEST(Cpp, FillAndUniform) {
  std::array<std::byte, 64> bytes{};
  grndpool::fill(bytes);
  EXPECT_TRUE(
      std::any_of(bytes.begin(), bytes.end(), [](std::byte b) { return b != std::byte{0}; }));
  std::array<int, 7> small{};
  std::array<int, 256> bytes_seen{};
  uint64_t or_bits = 0, and_bits = ~uint64_t{0};
  int negative = 0;
  for (int i = 0; i < 10000; ++i) {
    int v = grndpool::uniform(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    ++small[v + 3];
    // The full int64 range: both signs, every bit both ways.
    const int64_t w = grndpool::uniform<int64_t>(INT64_MIN, INT64_MAX);
    or_bits |= static_cast<uint64_t>(w);
    and_bits &= static_cast<uint64_t>(w);
    negative += w < 0;
    ++bytes_seen[grndpool::uniform<uint8_t>(0, 255)];
  }
  for (int k : small) EXPECT_NEAR(k, 10000 / 7, 250);  // ~8 sigma
  EXPECT_EQ(or_bits, ~uint64_t{0});
  EXPECT_EQ(and_bits, 0u);
  EXPECT_NEAR(negative, 5000, 400);
  // 10000 draws over 256 values: each about 39 times; none may be missing.
  for (int k : bytes_seen) EXPECT_GT(k, 5);
  EXPECT_EQ(grndpool::uniform(5, 5), 5);
}

TEST(Stats, CountersMove) {
  struct grndpool_stats before = Stats();
  std::vector<uint8_t> buf(1 << 20);
  grndpool_buf(buf.data(), buf.size());
  for (int i = 0; i < 10000; ++i) (void)grndpool_u32();
  struct grndpool_stats after = Stats();
  EXPECT_GE(after.bytes_served - before.bytes_served, buf.size() + 40000);
  EXPECT_GT(after.refills, before.refills);
  EXPECT_GE(after.threads_seen, 1u);
  EXPECT_GE(after.slices_in_use, 1u);
  EXPECT_GT(after.slab_bytes, 0u);
}

// The header's inline draw and the exported function serve from the same
// slice, each taking its own bytes: interleaved, no 64-bit pair repeats.
TEST(Api, InlineAndExportedDrawsInterleave) {
  std::vector<uint64_t> words(1 << 18);
  for (auto &w : words) w = (uint64_t{grndpool_u32()} << 32) | (grndpool_u32)();
  std::sort(words.begin(), words.end());
  EXPECT_EQ(std::adjacent_find(words.begin(), words.end()), words.end());
}

}  // namespace
}  // namespace grndpool::test
