// SPDX-License-Identifier: Apache-2.0
#include "tests/test_env.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "grndpool/grndpool.h"
#include "lib/options.h"
#include "lib/runtime.h"

namespace grndpool::test {
namespace {

// The options the variant asked for: the table's parser over the pairs of
// GRNDPOOL_TEST_ENV alone, not over the process environment.
std::vector<std::pair<std::string, std::string>> *g_pairs = nullptr;
const char *PairValue(const char *name) {
  for (const auto &[key, value] : *g_pairs)
    if (key == name) return value.c_str();
  return nullptr;
}

class EnvironmentCheck : public ::testing::Test {
  void TestBody() override {
    auto pairs = TestEnvironment();
    g_pairs = &pairs;
    std::vector<std::string> errors;
    const Options wanted = ParseOptions(PairValue, [](const char *line) {
      ADD_FAILURE() << "GRNDPOOL_TEST_ENV holds a value the library rejects: " << line;
    });
    g_pairs = nullptr;
    (void)grndpool_u32();  // start-up reads the environment
    EXPECT_TRUE(CurrentOptions() == wanted)
        << "the options in force are not the ones GRNDPOOL_TEST_ENV asks for: "
        << grndpool_describe();
    for (const auto &[name, value] : pairs) {
      const char *now = getenv(name.c_str());
      EXPECT_TRUE(now != nullptr && value == now) << name << " is not set to " << value;
    }
  }
};

}  // namespace

std::vector<std::pair<std::string, std::string>> TestEnvironment() {
  std::vector<std::pair<std::string, std::string>> pairs;
  const char *list = getenv("GRNDPOOL_TEST_ENV");
  if (list == nullptr) return pairs;
  std::string rest = list;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      fprintf(stderr, "GRNDPOOL_TEST_ENV: \"%s\" is not NAME=value (list: %s)\n", item.c_str(),
              list);
      exit(2);
    }
    pairs.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return pairs;
}

void ApplyTestEnvironment() {
  for (const auto &[name, value] : TestEnvironment()) setenv(name.c_str(), value.c_str(), 1);
  ::testing::RegisterTest("TestEnvironment", "IsInForce", nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test * { return new EnvironmentCheck; });
}

}  // namespace grndpool::test
