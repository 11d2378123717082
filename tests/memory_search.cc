// SPDX-License-Identifier: Apache-2.0
#include "tests/memory_search.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace grndpool::test {

Found FindWindows(const MemoryImage &image, const uint8_t *needle, size_t len) {
  Found found;
  if (len < 16 || image.data() == nullptr) return found;
  const size_t windows = len - 15;
  size_t capacity = 1024;
  while (capacity < 4 * windows) capacity *= 2;
  const int shift = 64 - __builtin_ctzll(capacity);
  std::vector<uint64_t> keys(capacity);
  std::vector<int64_t> at(capacity, -1);
  auto slot = [&](uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> shift; };
  for (size_t w = 0; w < windows; ++w) {
    uint64_t key;
    memcpy(&key, needle + w, 8);
    size_t i = slot(key);
    while (at[i] >= 0) i = (i + 1) & (capacity - 1);
    keys[i] = key;
    at[i] = static_cast<int64_t>(w);
  }
  std::vector<bool> seen(windows);
  for (const MemoryImage::Region &r : image.regions()) {
    const uint8_t *base = image.data() + r.offset;
    for (size_t p = 0; p + 16 <= r.bytes; ++p) {
      uint64_t key;
      memcpy(&key, base + p, 8);
      for (size_t i = slot(key); at[i] >= 0; i = (i + 1) & (capacity - 1)) {
        if (keys[i] != key) continue;
        const size_t w = static_cast<size_t>(at[i]);
        if (memcmp(base + p + 8, needle + w + 8, 8) != 0 || seen[w]) continue;
        seen[w] = true;
        if (found.windows++ == 0)
          found.first_place = image.Where(r.offset + p) + " (window at byte " + std::to_string(w) +
                              " of " + std::to_string(len) + ")";
      }
    }
  }
  return found;
}

Vault::Vault(size_t bytes) : size_(bytes) {
  mapped_ = (bytes + 4095) & ~size_t{4095};
  void *p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bytes_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t *>(p);
  if (bytes_ == nullptr || madvise(bytes_, mapped_, MADV_WIPEONFORK) != 0 ||
      madvise(bytes_, mapped_, MADV_DONTDUMP) != 0)
    abort();  // a vault a child could read would make every search meaningless
}

Vault::~Vault() {
  explicit_bzero(bytes_, mapped_);
  munmap(bytes_, mapped_);
}

PlantedCopy::PlantedCopy(const uint8_t *bytes, size_t len)
    : copy_(new std::vector<uint8_t>(bytes, bytes + len)) {}

PlantedCopy::~PlantedCopy() {
  explicit_bzero(copy_->data(), copy_->size());
  delete copy_;
}

}  // namespace grndpool::test
