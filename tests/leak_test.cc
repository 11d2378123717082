// SPDX-License-Identifier: Apache-2.0
// No byte the library served or will serve, and nothing it was made from,
// exists outside the locked, wipe-on-fork, don't-dump slab once a draw
// returns: not in libcrypto's context, not in a stack, not on any heap.
//
// Through the memory oracle (tests/memory_oracle.h), for each image kind (a
// fork() child, a raw clone child, a core dump):
//  - NextOutput: a thread draws until its buffer was just refilled, the image
//    is taken, then the thread draws its next 4 KiB (16-byte draws, each a
//    copy of one run of buffer memory): no 16-byte window of those 4 KiB may
//    be in the image. For every thread kind: small slice, hot slice,
//    overflow slice (its own process: GRNDPOOL_SLAB_BYTES=8K) and each other
//    strategy.
//  - LastSecret: a secret drawn (constant-size inline 16 B, 16 B through the
//    call, 1000 B, 100 KB) into memory no image sees, then the image: no
//    window of the secret may be in it.
// Before the image a signal saves every register on the thread's stack
// (except after a fast draw of at most 64 bytes, whose copy's registers hold
// what the caller holds), so what a draw or a refill left in registers is
// found too.
// Each search is followed by its positive control: the same bytes planted in
// ordinary heap memory must be found in an image taken the same way.
// NextOutput is tests/leak_next_output.cc; LastSecret is here; what they share
// is tests/leak_check.h.
#include <gtest/gtest.h>
#include <signal.h>

#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/leak_check.h"
#include "tests/memory_search.h"
#include "tests/test_env.h"

namespace grndpool::test {
namespace {

enum class Secret { kInline16, kCall16, k1000, k100000 };

// In the order of enum Secret: the name of each and its size.
constexpr struct {
  const char *name;
  size_t bytes;
} kSecrets[] = {{"inline16", 16}, {"call16", 16}, {"b1000", 1000}, {"b100000", 100000}};

// Keeps the compiler from seeing the size.
size_t Opaque(size_t n) {
  __asm__ volatile("" : "+r"(n));
  return n;
}

class LastSecret : public ::testing::TestWithParam<LeakCase<Secret>> {};

TEST_P(LastSecret, IsNowhereInAnImage) {
  if (OverflowProcess()) GTEST_SKIP() << "runs in the other process configuration";
  const Secret secret = GetParam().row;
  const ImageKind image_kind = GetParam().image;
  SKIP_CORE_DUMPS_UNDER_SANITIZERS(image_kind);
  Vault vault(kSecrets[static_cast<int>(secret)].bytes);
  MemoryImage image;
  std::thread worker([&] {
    // A thread with a warm slice, as a server's would be.
    for (int i = 0; i < 1000; ++i) (void)grndpool_u32();
    switch (secret) {
      case Secret::kInline16:
        grndpool_buf(vault.bytes(), 16);  // the header's inline copy
        break;
      case Secret::kCall16:
      case Secret::k1000:
      case Secret::k100000:
        grndpool_buf_outline(vault.bytes(), Opaque(vault.size()));
        break;
    }
    // A signal right after the draw saves every register on this stack,
    // where the image finds what the draw left in them. What the library
    // wipes is its own work; the registers of the copy a fast draw (at most
    // 64 bytes) makes into the caller's buffer hold what the caller holds.
    if (vault.size() > 64) raise(SIGURG);
    image = TakeImage(image_kind);
  });
  worker.join();
  ExpectAbsentWithControl(image_kind, image, vault.bytes(), vault.size(),
                          std::string("a ") + std::to_string(vault.size()) + "-byte secret");
}

INSTANTIATE_TEST_SUITE_P(Sizes, LastSecret,
                         ::testing::ValuesIn(EveryImageKind<Secret>(std::size(kSecrets))),
                         [](const auto &info) {
                           return CaseName(kSecrets[static_cast<int>(info.param.row)].name,
                                           info.param.image);
                         });

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  struct sigaction quiet {};
  quiet.sa_handler = [](int) {};
  sigaction(SIGURG, &quiet, nullptr);
  grndpool::test::ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
