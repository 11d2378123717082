// SPDX-License-Identifier: Apache-2.0
// grndpool-env --stats PID: another process's counters, read through
// /proc/PID/maps and /proc/PID/mem from the page lib/stats_page.h describes,
// without that process's help.
#pragma once

#include <string>

namespace grndpool::tools {

// The line "grndpool stats: pid=N name=value ..." (as GRNDPOOL_STATS=1 prints
// at exit) for process `pid_text`, into *line; false with one line of error
// in *error (no such process, no grndpool page in it, not allowed to read its
// memory, a page of another layout). bytes_served lacks what live slices
// served since their last refill: only the process itself can count that.
bool ReadRemoteStats(const char *pid_text, std::string *line, std::string *error);

}  // namespace grndpool::tools
