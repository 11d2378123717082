// SPDX-License-Identifier: Apache-2.0
#include "seed_pool.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace grndpool_bench {

SeedPool::SeedPool(FillFn fill, TimestampFn timestamp, void *ctx)
    : fill_(fill), timestamp_(timestamp), ctx_(ctx) {
  void *p = mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("seed_table: mmap");
    abort();
  }
  buf_ = static_cast<unsigned char *>(p);
  // A child must not replay the parent's bytes; swap must never see them.
  (void)madvise(buf_, kBufferBytes, MADV_WIPEONFORK);
  locked_ = mlock(buf_, kBufferBytes) == 0;
  if (timestamp_ != nullptr) timestamp_(ctx_, &cookie_);  // the starting generation
}

SeedPool::~SeedPool() {
  explicit_bzero(buf_, kBufferBytes);
  munmap(buf_, kBufferBytes);
}

void SeedPool::Discard() {
  discarded_ += end_ - pos_;
  explicit_bzero(buf_ + pos_, end_ - pos_);
  pos_ = end_ = 0;
  refill_ = kFirstRefill;
}

void SeedPool::Refill() {
  fill_(ctx_, buf_, refill_);
  pos_ = 0;
  end_ = refill_;
  if (refill_ < kBufferBytes) refill_ *= 2;
}

}  // namespace grndpool_bench
