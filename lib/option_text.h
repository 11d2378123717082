// SPDX-License-Identifier: Apache-2.0
// What people read about the options, generated from lib/options.h's table:
// the --help text, the Markdown table of README.md and docs/ENVIRONMENT.md,
// and the report of GRNDPOOL_* variables nobody reads, with the name that was
// probably meant. For grndpool-env; the library itself never prints these.
#pragma once

#include <cstddef>
#include <string>

#include "lib/options.h"

namespace grndpool {

// The row whose name is nearest to `name`, to suggest instead: a row that
// `name` begins, at a '_' (GRNDPOOL_SLAB -> GRNDPOOL_SLAB_BYTES), else the
// fewest one-character edits.
const OptionSpec &NearestOption(const char *name);

// Reports, through `sink`, one line for each GRNDPOOL_* variable of `envp`
// (NAME=VALUE strings, NULL-terminated) that no row of the table reads,
// naming the nearest row. Returns how many it reported.
size_t ReportUnknownVariables(char *const *envp, OptionErrorSink sink);
// `--help` text and a markdown table, both generated from kOptionTable.
std::string OptionsHelpText();
std::string OptionsMarkdown();

}  // namespace grndpool
