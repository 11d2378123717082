// SPDX-License-Identifier: Apache-2.0
#include "lib/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace grndpool {
namespace {

std::map<std::string, std::string> g_env;
std::vector<std::string> g_errors;

const char *FakeGetenv(const char *name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
void CollectError(const char *line) {
  g_errors.push_back(line);
}

Options Parse(std::map<std::string, std::string> env) {
  g_env = std::move(env);
  g_errors.clear();
  return ParseOptions(FakeGetenv, CollectError);
}

TEST(ParseSize, AcceptsSuffixes) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseSize("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(ParseSize("64K", &v));
  EXPECT_EQ(v, 65536u);
  EXPECT_TRUE(ParseSize("2m", &v));
  EXPECT_EQ(v, 2u << 20);
}

TEST(ParseSize, RejectsGarbage) {
  uint64_t v = 0;
  for (const char *bad :
       {"", "K", "-1", "12Q", "1KK", " 1", "1 ", "99999999999999999999", "18446744073709551615M"})
    EXPECT_FALSE(ParseSize(bad, &v)) << bad;
}

TEST(ParseOptions, DefaultsWithEmptyEnvironment) {
  Options o = Parse({});
  EXPECT_TRUE(g_errors.empty());
  const Options d = DefaultOptions();
  EXPECT_EQ(o.strategy, d.strategy);
  EXPECT_EQ(o.slab_bytes, d.slab_bytes);
  EXPECT_EQ(o.slice_bytes, d.slice_bytes);
}

TEST(ParseOptions, ValidValues) {
  Options o = Parse({{"GRNDPOOL_STRATEGY", "per-thread"},
                     {"GRNDPOOL_SOURCE", "syscall"},
                     {"GRNDPOOL_REFILL", "direct"},
                     {"GRNDPOOL_SLAB_BYTES", "1M"},
                     {"GRNDPOOL_SLICE_BYTES", "512"},
                     {"GRNDPOOL_REKEY_BYTES", "64K"},
                     {"GRNDPOOL_STATS", "1"}});
  EXPECT_TRUE(g_errors.empty());
  EXPECT_EQ(o.strategy, Strategy::kPerThread);
  EXPECT_EQ(o.source, SourceChoice::kSyscall);
  EXPECT_EQ(o.refill, RefillMode::kDirect);
  EXPECT_EQ(o.slab_bytes, 1u << 20);
  EXPECT_EQ(o.slice_bytes, 512u);
  EXPECT_EQ(o.rekey_bytes, 65536u);
  EXPECT_TRUE(o.print_stats);
}

// Every variable set to garbage: one line each naming the variable, the value and
// what is accepted; the defaults stay in force.
TEST(ParseOptions, GarbageEverywhereGivesOneLineEachAndDefaults) {
  std::map<std::string, std::string> env;
  for (size_t i = 0; i < kOptionCount; ++i) env[kOptionTable[i].env_name] = "garbage!";
  Options o = Parse(env);
  ASSERT_EQ(g_errors.size(), kOptionCount);
  for (size_t i = 0; i < kOptionCount; ++i) {
    const std::string &line = g_errors[i];
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_NE(line.find(kOptionTable[i].env_name), std::string::npos) << line;
    EXPECT_NE(line.find("garbage!"), std::string::npos) << line;
    EXPECT_NE(line.find(kOptionTable[i].accepted), std::string::npos) << line;
  }
  const Options d = DefaultOptions();
  EXPECT_EQ(o.strategy, d.strategy);
  EXPECT_EQ(o.source, d.source);
  EXPECT_EQ(o.refill, d.refill);
  EXPECT_EQ(o.slab_bytes, d.slab_bytes);
  EXPECT_EQ(o.slice_bytes, d.slice_bytes);
  EXPECT_EQ(o.rekey_bytes, d.rekey_bytes);
  EXPECT_EQ(o.print_stats, d.print_stats);
}

TEST(ParseOptions, OutOfRangeSizesAreRejected) {
  Parse({{"GRNDPOOL_SLAB_BYTES", "4K"},
         {"GRNDPOOL_SLICE_BYTES", "1000"},
         {"GRNDPOOL_REKEY_BYTES", "2048M"}});
  EXPECT_EQ(g_errors.size(), 3u);
}

// A budget smaller than one slice would be exceeded by the first thread.
TEST(ParseOptions, SlabSmallerThanASliceIsRejected) {
  const Options o = Parse({{"GRNDPOOL_SLAB_BYTES", "8K"}, {"GRNDPOOL_SLICE_BYTES", "16K"}});
  ASSERT_EQ(g_errors.size(), 1u);
  EXPECT_NE(g_errors[0].find("GRNDPOOL_SLAB_BYTES=\"8K\""), std::string::npos) << g_errors[0];
  EXPECT_NE(g_errors[0].find("smaller than one slice"), std::string::npos) << g_errors[0];
  EXPECT_EQ(o.slice_bytes, 16u * 1024);
  EXPECT_EQ(o.slab_bytes, DefaultOptions().slab_bytes);
  EXPECT_GE(o.slab_bytes, o.slice_bytes);
}

// A value with a newline, a control byte, quotes or a backslash stays on one
// printable line; a long one is cut.
TEST(ParseOptions, BadValuesAreEscapedOnOneLine) {
  Parse({{"GRNDPOOL_REFILL", "chacha20\nGRNDPOOL_SOURCE=\"x\\\x01"},
         {"GRNDPOOL_STRATEGY", std::string(300, 'a')}});
  ASSERT_EQ(g_errors.size(), 2u);
  for (const std::string &line : g_errors) {
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
    EXPECT_LT(line.size(), 400u) << line;
  }
  const std::string &refill =
      g_errors[0].find("REFILL") != std::string::npos ? g_errors[0] : g_errors[1];
  EXPECT_NE(refill.find("chacha20\\x0aGRNDPOOL_SOURCE=\\\"x\\\\\\x01"), std::string::npos)
      << refill;
}

}  // namespace
}  // namespace grndpool
