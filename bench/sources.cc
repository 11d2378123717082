#include "sources.h"

#include "grndpool/grndpool.h"
#include "peers.h"

#include "strategy.h"

namespace grndpool_bench {

std::vector<Source> StrategySources() {
  grndpool_describe();
  std::vector<Source> out;
  for (grndpool::Strategy s : grndpool::kAllStrategies) {
    const grndpool::StrategyOps &ops = grndpool::StrategyFor(s);
    out.push_back({ops.name, "strategy", ops.draw});
  }
  return out;
}

std::vector<Source> AllSources(std::vector<std::string> *skipped) {
  std::vector<Source> out = StrategySources();
  for (const Peer &p : AvailablePeers(skipped)) out.push_back({p.name, "peer", p.draw});
  return out;
}

}  // namespace grndpool_bench
