// SPDX-License-Identifier: Apache-2.0
// lib/generation: labels for fresh data and whether a label is still current,
// against the kernel model in each mode.
#include <gtest/gtest.h>

#include "lib/generation.h"
#include "lib/stats.h"
#include "tests/emu/emu.h"

namespace grndpool::test {
namespace {

TEST(Generation, PerRefillLabelsMoveWithTheGeneration) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kPerRefill;
  const kernel::KernelOps &ops = *emu::Ops(config);
  bool moved = true;
  const uint64_t first = LabelForFill(ops, 0, &moved);
  EXPECT_NE(first, 0u);
  EXPECT_FALSE(moved) << "the first label is a starting point, not a change";
  EXPECT_EQ(LabelForFill(ops, first, &moved), first);
  EXPECT_FALSE(moved);
  const uint64_t changes = g_counters.generation_changes.load();
  emu::BumpGeneration();
  const uint64_t second = LabelForFill(ops, first, &moved);
  EXPECT_TRUE(moved);
  EXPECT_NE(second, first);
  EXPECT_EQ(g_counters.generation_changes.load(), changes + 1);
  EXPECT_TRUE(LabelIsCurrent(ops, first)) << "per refill: only the next refill can tell";
}

TEST(Generation, PerDrawCookiesAnswerEveryDraw) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kPerDraw;
  const kernel::KernelOps &ops = *emu::Ops(config);
  bool moved = true;
  const uint64_t cookie = LabelForFill(ops, 0, &moved);
  EXPECT_FALSE(moved);
  EXPECT_TRUE(LabelIsCurrent(ops, cookie));
  EXPECT_FALSE(LabelIsCurrent(ops, 0)) << "a zeroed cookie (wiped page) is never current";
  emu::BumpGeneration();
  EXPECT_FALSE(LabelIsCurrent(ops, cookie));
  EXPECT_NE(LabelForFill(ops, cookie, &moved), cookie);
  EXPECT_TRUE(moved);
}

TEST(Generation, UnknownModeNeverLabels) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kUnknown;
  bool moved = true;
  EXPECT_EQ(LabelForFill(*emu::Ops(config), 1234, &moved), 0u);
  EXPECT_FALSE(moved);
}

}  // namespace
}  // namespace grndpool::test
