// SPDX-License-Identifier: Apache-2.0
#include "threads_protos.h"

namespace grndpool_bench {

std::vector<ThreadsProto> ThreadsProtos() {
  return {};
}

}  // namespace grndpool_bench
