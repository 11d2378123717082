// SPDX-License-Identifier: Apache-2.0
// Searching a memory image (tests/memory_oracle.h) for bytes that must not be
// there, and where a test keeps those bytes meanwhile. Every search that can
// pass by finding nothing has a positive control: the same bytes planted in
// ordinary heap memory must be found in an image taken the same way
// (PlantedCopy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/memory_oracle.h"

namespace grndpool::test {

// Where the 16-byte windows of `needle` (at every offset) occur in `image`:
// the number of distinct windows found, and the first place, for messages.
struct Found {
  size_t windows = 0;
  std::string first_place;
};
Found FindWindows(const MemoryImage &image, const uint8_t *needle, size_t len);

// Memory a child and a core dump never see (MADV_WIPEONFORK, MADV_DONTDUMP):
// where a test keeps the bytes it searches for, drawn straight into it.
class Vault {
 public:
  explicit Vault(size_t bytes);
  ~Vault();
  Vault(const Vault &) = delete;
  Vault &operator=(const Vault &) = delete;
  uint8_t *bytes() { return bytes_; }
  size_t size() const { return size_; }

 private:
  uint8_t *bytes_;
  size_t size_;
  size_t mapped_;
};

// A copy of `len` bytes in ordinary heap memory, for a positive control; the
// copy is wiped and freed by the destructor.
class PlantedCopy {
 public:
  PlantedCopy(const uint8_t *bytes, size_t len);
  ~PlantedCopy();
  PlantedCopy(const PlantedCopy &) = delete;
  PlantedCopy &operator=(const PlantedCopy &) = delete;

 private:
  std::vector<uint8_t> *copy_;
};

}  // namespace grndpool::test
