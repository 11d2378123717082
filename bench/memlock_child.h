// SPDX-License-Identifier: Apache-2.0
// memlock_wall's child process: one strategy, N threads that each draw once and
// wait, while the main thread reads VmLck and the counters.
#pragma once

#include <cstddef>
#include <string>

namespace grndpool_bench {

inline constexpr size_t kThreadStackBytes = 64 * 1024;  // so 4096 threads fit easily

// The columns of the row Child() prints, for the parent's CSV file.
inline constexpr char kCsvHeader[] =
    "strategy,threads_requested,threads_started,vmlck_kib_before,vmlck_kib,locked_bytes,"
    "mlock_failures,slab_bytes,slices_in_use";

// Runs `threads` threads of `strategy` (GRNDPOOL_STRATEGY is set to it too)
// and prints one CSV row on stdout; drops CAP_IPC_LOCK first unless
// keep_ipc_lock. Returns the process's exit status: 0, 1 (capset failed) or 2
// (unknown strategy). A wedged child is killed by an alarm.
int Child(const std::string &strategy, int threads, bool keep_ipc_lock);

}  // namespace grndpool_bench
