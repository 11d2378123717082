// SPDX-License-Identifier: Apache-2.0
// The memory oracle: what another process can get of this one's memory — a
// forked child (glibc fork() or raw SYS_fork, which runs no atfork handler)
// or a core dump (gcore, which leaves out MADV_DONTDUMP mappings as the
// kernel does) — searched for bytes that must not be there: output the
// library served or will serve, and anything it was made from.
//
// Searching an image, and the memory a test keeps its needles in, are
// tests/memory_search.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace grndpool::test {

enum class ImageKind { kForkChild, kRawForkChild, kCoreDump };
inline constexpr ImageKind kAllImageKinds[] = {ImageKind::kForkChild, ImageKind::kRawForkChild,
                                               ImageKind::kCoreDump};
// "fork() child", "raw clone child", "core dump": for messages.
const char *ImageName(ImageKind kind);
// "fork", "raw_clone", "core": for test names.
const char *ImageShortName(ImageKind kind);

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

}  // namespace grndpool::test
