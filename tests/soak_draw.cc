// SPDX-License-Identifier: Apache-2.0
#include "tests/soak_draw.h"

#include <iterator>

#include "grndpool/grndpool.h"
#include "lib/strategies/registry.h"

namespace grndpool::test {

void DrawWith(uint64_t i, void *out, size_t n) {
  constexpr size_t kWays = std::size(grndpool::kAllStrategies) + 1;
  const size_t way = (i / 64) % kWays;
  const grndpool::Strategy s =
      way == 0 ? grndpool::Strategy::kSlab : grndpool::kAllStrategies[way - 1];
  if (way == 0)
    grndpool_buf(out, n);
  else
    grndpool::StrategyFor(s).draw(out, n);
}

void DrawRound(Recorder &rec, uint64_t i) {
  static constexpr size_t kSizes[] = {4, 8, 16, 4, 8, 64, 1000, 8, 5000};
  alignas(8) uint8_t buf[5000];
  const size_t n = kSizes[i % std::size(kSizes)];
  DrawWith(i, buf, n);
  rec.Record(buf, n);
}

}  // namespace grndpool::test
