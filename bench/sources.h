// SPDX-License-Identifier: Apache-2.0
// Everything the benchmark draws from: grndpool's strategies and the peers,
// in one list with one shape.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace grndpool_bench {

struct Source {
  std::string name;  // "slab", "glibc-arc4random", ...
  std::string kind;  // "strategy", "peer" or "limit" (keystream-limit)
  void (*draw)(void *out, size_t n);
  size_t bytes_per_call = 0;  // see Peer::bytes_per_call
};

// grndpool's strategies (StrategyFor, every entry of kAllStrategies). Calls
// grndpool_describe() first so the library is initialised before any draw.
std::vector<Source> StrategySources();

// Strategies, then peers. Peers that could not be loaded are reported in
// `skipped`, one line each.
std::vector<Source> AllSources(std::vector<std::string> *skipped);

}  // namespace grndpool_bench
