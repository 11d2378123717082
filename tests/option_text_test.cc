// SPDX-License-Identifier: Apache-2.0
// lib/option_text: the help text and Markdown table list every variable, and
// a GRNDPOOL_* variable nobody reads gets one line naming what was probably
// meant.
#include "lib/option_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace grndpool {
namespace {

std::vector<std::string> g_errors;

void CollectError(const char *line) {
  g_errors.push_back(line);
}

TEST(OptionsDocs, HelpAndMarkdownListEveryVariable) {
  const std::string help = OptionsHelpText();
  const std::string md = OptionsMarkdown();
  for (size_t i = 0; i < kOptionCount; ++i) {
    EXPECT_NE(help.find(kOptionTable[i].env_name), std::string::npos);
    EXPECT_NE(md.find(kOptionTable[i].env_name), std::string::npos);
  }
}

TEST(UnknownVariables, NearestNameIsWhatTheUserMeant) {
  EXPECT_STREQ(NearestOption("GRNDPOOL_SLAB").env_name, "GRNDPOOL_SLAB_BYTES");
  EXPECT_STREQ(NearestOption("GRNDPOOL_SLICE").env_name, "GRNDPOOL_SLICE_BYTES");
  EXPECT_STREQ(NearestOption("GRNDPOOL_HOT").env_name, "GRNDPOOL_HOT_SLICE_BYTES");
  EXPECT_STREQ(NearestOption("GRNDPOOL_STAT").env_name, "GRNDPOOL_STATS");
  EXPECT_STREQ(NearestOption("GRNDPOOL_REFIL").env_name, "GRNDPOOL_REFILL");
  EXPECT_STREQ(NearestOption("GRNDPOOL_STRATEGIE").env_name, "GRNDPOOL_STRATEGY");
  EXPECT_STREQ(NearestOption("GRNDPOOL_HOTSLICE_BYTES").env_name, "GRNDPOOL_HOT_SLICE_BYTES");
  EXPECT_STREQ(NearestOption("GRNDPOOL_SLAB_SIZE").env_name, "GRNDPOOL_SLAB_BYTES");
  EXPECT_EQ(FindOption("GRNDPOOL_SLAB"), nullptr);
  ASSERT_NE(FindOption("GRNDPOOL_SLAB_BYTES"), nullptr);
  EXPECT_STREQ(FindOption("GRNDPOOL_SLAB_BYTES")->env_name, "GRNDPOOL_SLAB_BYTES");
}

TEST(UnknownVariables, OneLineEachNamingTheNearest) {
  g_errors.clear();
  char foo[] = "GRNDPOOL_FOO=1";
  char slab[] = "GRNDPOOL_SLAB=1M";
  char known[] = "GRNDPOOL_SLAB_BYTES=1M";
  char other[] = "PATH=/bin";
  char odd[] = "GRNDPOOL_X=\"\n";
  char *envp[] = {foo, known, other, slab, odd, nullptr};
  EXPECT_EQ(ReportUnknownVariables(envp, CollectError), 3u);
  ASSERT_EQ(g_errors.size(), 3u);
  EXPECT_NE(g_errors[0].find("unknown variable GRNDPOOL_FOO=\"1\""), std::string::npos)
      << g_errors[0];
  EXPECT_NE(g_errors[1].find("unknown variable GRNDPOOL_SLAB=\"1M\""), std::string::npos)
      << g_errors[1];
  EXPECT_NE(g_errors[1].find("nearest known name: GRNDPOOL_SLAB_BYTES "), std::string::npos)
      << g_errors[1];
  EXPECT_NE(g_errors[2].find("GRNDPOOL_X=\"\\\"\\x0a\""), std::string::npos) << g_errors[2];
  for (const std::string &line : g_errors) EXPECT_EQ(line.find('\n'), std::string::npos);
  char *none[] = {known, other, nullptr};
  EXPECT_EQ(ReportUnknownVariables(none, CollectError), 0u);
  EXPECT_EQ(ReportUnknownVariables(nullptr, CollectError), 0u);
}

}  // namespace
}  // namespace grndpool
