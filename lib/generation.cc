// SPDX-License-Identifier: Apache-2.0
#include "lib/generation.h"

#include "lib/stats.h"

namespace grndpool {

uint64_t LabelForFill(const kernel::KernelOps &ops, uint64_t previous, bool *moved) {
  uint64_t label = previous;
  *moved = false;
  switch (ops.mode) {
    case kernel::GenerationMode::kPerDraw:
      // The cookie is ~generation; a zero label is never current, so the
      // first fill is not a "change".
      if (ops.timestamp(&label) != 0) {
        *moved = previous != 0;
        NoteGeneration(~label);
      }
      return label;
    case kernel::GenerationMode::kPerRefill:
      if (!ops.generation(&label)) return 0;
      *moved = previous != 0 && label != previous;
      NoteGeneration(label);
      return label;
    case kernel::GenerationMode::kUnknown:
      return 0;
  }
  return 0;
}

}  // namespace grndpool
