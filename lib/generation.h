// SPDX-License-Identifier: Apache-2.0
// Generation bookkeeping shared by every buffer: a label for freshly filled data,
// and whether data under a label may still be served.
#pragma once

#include <cstdint>

#include "lib/kernel/kernel_ops.h"

namespace grndpool {

// The label for data about to be filled: the GRND_TIMESTAMP cookie or the
// generation counter (0 when unknown). *moved tells whether it differs from
// `previous` (a nonzero earlier label).
uint64_t LabelForFill(const kernel::KernelOps &ops, uint64_t previous, bool *moved);

// Whether data labelled `label` may still be served. Only sources with the
// per-draw GRND_TIMESTAMP can answer between refills; others answer true and
// are checked at the next refill.
inline bool LabelIsCurrent(const kernel::KernelOps &ops, uint64_t label) {
  if (ops.mode != kernel::GenerationMode::kPerDraw) return true;
  return ops.timestamp(&label) == 0;
}

}  // namespace grndpool
