// SPDX-License-Identifier: Apache-2.0
// u32_rounds' scaling rounds: aggregate draws per second with 2 threads over
// 1 thread, for the table's rows marked kScaling.
#pragma once

#include <vector>

#include "u32_measure.h"

namespace grndpool_bench {

// Each round measures 1 then 2 threads (or 2 then 1) back to back, per source,
// in a rotated order; fills scaling, one_thread_ns, two_thread_ns and their
// preempted flags. Needs calls_per_block calibrated for o.block_ms.
void MeasureScaling(std::vector<Measured> &sources, const RoundsOptions &o);

}  // namespace grndpool_bench
