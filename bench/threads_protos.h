// SPDX-License-Identifier: Apache-2.0
// Bench-only prototypes of slab designs for many threads (issue 20), run by
// threads_rounds beside the library and its peers. Not the library: each says
// what it keeps and what it leaves out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace grndpool_bench {

struct ThreadsProto {
  const char *name;
  size_t bytes_per_draw;
  uint32_t (*run)(uint64_t calls);  // `calls` draws on the calling thread
  bool extra = false;               // run only when named (threads_rounds --sources)
};

// Every prototype built into this binary.
std::vector<ThreadsProto> ThreadsProtos();

}  // namespace grndpool_bench
