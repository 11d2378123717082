// SPDX-License-Identifier: Apache-2.0
// grndpool's strategy table (StrategyFor, kAllStrategies), wherever the tree
// keeps it: lib/strategies/registry.h since main's "One room per job",
// lib/strategy.h before. The bench builds on both sides of that move; once it
// is everywhere, include lib/strategies/registry.h directly and drop this file.
#pragma once

#if __has_include("lib/strategies/registry.h")
#include "lib/strategies/registry.h"
#else
#include "strategy.h"
#endif
