// SPDX-License-Identifier: Apache-2.0
// The soak test's draws: round i draws one of a cycle of sizes (fast path,
// refills, the large path) through one strategy or the public API in turn,
// and records what it got.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tests/soak_store.h"

namespace grndpool::test {

// Draws n bytes the way round i does: every strategy in turn, and the API.
void DrawWith(uint64_t i, void *out, size_t n);

// One round of the size cycle, recorded in `rec`.
void DrawRound(Recorder &rec, uint64_t i);

}  // namespace grndpool::test
