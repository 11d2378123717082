// SPDX-License-Identifier: Apache-2.0
// The memory oracle: what another process can get of this one's memory — a
// forked child (glibc fork() or raw SYS_fork, which runs no atfork handler)
// or a core dump (gcore, which leaves out MADV_DONTDUMP mappings as the
// kernel does) — searched for bytes that must not be there: output the
// library served or will serve, and anything it was made from.
//
// Every search that can pass by finding nothing has a positive control: the
// same bytes planted in ordinary heap memory must be found in an image taken
// the same way (PlantedCopy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace grndpool::test {

enum class ImageKind { kForkChild, kRawForkChild, kCoreDump };
const char *ImageName(ImageKind kind);

// A copy of the memory another process got of this one. Only pages that were
// ever written (resident) are kept: a secret has been written somewhere.
class MemoryImage {
 public:
  struct Region {
    uintptr_t start;  // address in this process
    size_t offset;    // where its bytes start in data()
    size_t bytes;
    std::string name;  // the mapping's path or [heap], [stack], ...
  };

  MemoryImage() = default;
  MemoryImage(const MemoryImage &) = delete;
  MemoryImage &operator=(const MemoryImage &) = delete;
  MemoryImage(MemoryImage &&other) noexcept;
  MemoryImage &operator=(MemoryImage &&other) noexcept;
  ~MemoryImage();

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::vector<Region> &regions() const { return regions_; }
  // Why the image could not be taken; empty when it was.
  const std::string &error() const { return error_; }
  // Bytes of mappings over 64 GiB left out (sanitizer shadow; 0 in a plain build).
  uint64_t skipped_bytes() const { return skipped_bytes_; }
  // "[heap]+0x1234" for a byte offset into data().
  std::string Where(size_t offset) const;

 private:
  friend MemoryImage TakeImage(ImageKind kind);
  friend void ParseRecords(MemoryImage *image, const uint8_t *file, size_t bytes,
                           std::vector<Region> *regions);
  uint8_t *data_ = nullptr;  // mmap'd MADV_DONTFORK | MADV_DONTDUMP: not in later images
  size_t size_ = 0;
  size_t mapped_ = 0;
  std::vector<Region> regions_;
  std::string error_;
  uint64_t skipped_bytes_ = 0;
};

// Reads a child's records into `image` (memory_oracle.cc).
void ParseRecords(MemoryImage *image, const uint8_t *file, size_t bytes,
                  std::vector<MemoryImage::Region> *regions);

// Takes an image of this process's memory as it is now. A fork child writes
// every resident readable page of its address space to a memfd and exits
// (raw syscalls only: it may be the child of SYS_fork in a threaded process);
// a core dump is written by gcore into a temporary file and read back.
MemoryImage TakeImage(ImageKind kind);

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
