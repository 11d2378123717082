// SPDX-License-Identifier: Apache-2.0
// What /proc says about this process and machine, for the bench programs'
// reports.
#pragma once

namespace grndpool_bench {

// The 1-minute load average, from /proc/loadavg; -1 when unreadable.
double LoadAverage();

// VmLck of this process in KiB, from /proc/self/status; -1 when unreadable.
long VmLckKib();

}  // namespace grndpool_bench
