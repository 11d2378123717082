// SPDX-License-Identifier: Apache-2.0
// One page of buffered bytes with its header, the shape the per-thread and
// mutex strategies keep (each says how it shares it and how much it refills).
// The page is wipe-on-fork: in a child it reads as zeros, so `ready` is 0 and
// the stamp is never current.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "lib/fast_path.h"
#include "lib/slice.h"

namespace grndpool {

inline constexpr size_t kPageBufferBytes = 4096;

struct PageBuffer {
  int32_t avail;    // bytes left, served from data[avail - n, avail)
  uint32_t ready;   // 0 in a fresh page and in a child after fork (wiped)
  uint32_t locked;  // mlock succeeded in this process
  uint32_t refill;  // bytes the next refill makes (the per-thread strategy grows it)
  Stamp stamp;      // what the data was made under
  uint32_t pad_[8];
  uint8_t data[kPageBufferBytes - 64];

  size_t Avail() const { return avail > 0 ? static_cast<size_t>(avail) : 0; }
  // Copies up to n bytes out (memory to memory where it can), zeroing them.
  size_t Take(uint8_t *out, size_t n) {
    const size_t take = std::min(Avail(), n);
    avail -= static_cast<int32_t>(take);
    uint8_t *p = data + avail;
    CopyOut(out, p, take);
    memset(p, 0, take);
    return take;
  }
};
static_assert(sizeof(PageBuffer) == kPageBufferBytes);
inline constexpr uint32_t kPageBufferCapacity = sizeof(PageBuffer::data);

}  // namespace grndpool
