// SPDX-License-Identifier: Apache-2.0
#include "sources.h"

#include <cstring>

#include "grndpool/grndpool.h"
#include "peers.h"

#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

// The slab is the process's own strategy here (the default), so its row goes
// through the public API exactly as a user calls it: grndpool_u32() and
// grndpool_u64() for words, grndpool_buf() otherwise.
void PublicApiDraw(void *out, size_t n) {
  if (n == sizeof(uint32_t)) {
    const uint32_t v = grndpool_u32();
    memcpy(out, &v, sizeof v);
  } else if (n == sizeof(uint64_t)) {
    const uint64_t v = grndpool_u64();
    memcpy(out, &v, sizeof v);
  } else {
    grndpool_buf(out, n);
  }
}

}  // namespace

std::vector<Source> StrategySources() {
  const bool slab_is_default = strstr(grndpool_describe(), "strategy=slab ") != nullptr;
  std::vector<Source> out;
  for (grndpool::Strategy s : grndpool::kAllStrategies) {
    const grndpool::StrategyOps &ops = grndpool::StrategyFor(s);
    const bool public_api = s == grndpool::Strategy::kSlab && slab_is_default;
    out.push_back({ops.name, "strategy", public_api ? PublicApiDraw : ops.draw});
  }
  return out;
}

std::vector<Source> AllSources(std::vector<std::string> *skipped) {
  std::vector<Source> out = StrategySources();
  for (const Peer &p : AvailablePeers(skipped))
    out.push_back({p.name, p.bytes_per_call != 0 ? "limit" : "peer", p.draw, p.bytes_per_call});
  return out;
}

}  // namespace grndpool_bench
