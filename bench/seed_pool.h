// SPDX-License-Identifier: Apache-2.0
// The seed's per-thread pool, rebuilt from its cover letter: a 4 KiB buffer
// (mmap'd, MADV_WIPEONFORK, mlock'd) refilled with a size that doubles from
// 32 B while the kernel generation holds and falls back to 32 B when it moves,
// so bytes fetched just before a reseed are few when they must be discarded.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grndpool_bench {

class SeedPool {
 public:
  static constexpr size_t kBufferBytes = 4096;
  static constexpr size_t kFirstRefill = 32;

  // `fill` fetches kernel bytes. `timestamp` is the GRND_TIMESTAMP call checked
  // on every draw, or nullptr when the kernel has none (then nothing is ever
  // discarded, because nothing tells the pool the generation moved).
  // Plain function pointers plus a context, not std::function: the timestamp
  // runs on every draw and its call overhead is part of what is measured.
  using FillFn = void (*)(void *ctx, void *out, size_t n);
  using TimestampFn = long (*)(void *ctx, uint64_t *cookie);
  SeedPool(FillFn fill, TimestampFn timestamp, void *ctx);
  ~SeedPool();
  SeedPool(const SeedPool &) = delete;
  SeedPool &operator=(const SeedPool &) = delete;

  bool locked() const { return locked_; }
  uint64_t discarded_bytes() const { return discarded_; }

  uint32_t U32() {
    if (timestamp_ != nullptr && timestamp_(ctx_, &cookie_) == 8) Discard();
    if (end_ - pos_ < sizeof(uint32_t)) Refill();
    uint32_t v;
    __builtin_memcpy(&v, buf_ + pos_, sizeof v);
    __builtin_memset(buf_ + pos_, 0, sizeof v);  // served bytes never stay behind
    pos_ += sizeof v;
    return v;
  }

 private:
  void Discard();
  void Refill();

  FillFn fill_;
  TimestampFn timestamp_;
  void *ctx_;
  unsigned char *buf_ = nullptr;
  size_t pos_ = 0;
  size_t end_ = 0;
  size_t refill_ = kFirstRefill;
  uint64_t cookie_ = 0;
  uint64_t discarded_ = 0;
  bool locked_ = false;
};

}  // namespace grndpool_bench
