// SPDX-License-Identifier: Apache-2.0
// One process per configuration, configured by its own main(): CTest passes a
// variant's whole environment in one variable, GRNDPOOL_TEST_ENV
// ("NAME=value,NAME=value"), which main() applies with setenv() before the
// first draw. (A `;` inside CMake's ENVIRONMENT property would split the list
// and silently drop the second variable.) Every such process also runs
// TestEnvironment.IsInForce, which checks that the library runs with exactly
// the options the variant's name promises.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace grndpool::test {

// The NAME=value pairs of GRNDPOOL_TEST_ENV, in order.
std::vector<std::pair<std::string, std::string>> TestEnvironment();

// Sets every pair of GRNDPOOL_TEST_ENV in the environment and registers
// TestEnvironment.IsInForce. Call from main() before InitGoogleTest and
// before the first draw; exits with status 2 on a malformed list.
void ApplyTestEnvironment();

}  // namespace grndpool::test
