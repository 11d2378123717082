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
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/strategies/registry.h"
#include "tests/memory_oracle.h"
#include "tests/test_env.h"

namespace grndpool::test {
namespace {

uint64_t Refills() {
  struct grndpool_stats s = {};
  s.size = sizeof s;
  grndpool_get_stats(&s);
  return s.refills;
}

struct grndpool_stats Snapshot() {
  struct grndpool_stats s = {};
  s.size = sizeof s;
  grndpool_get_stats(&s);
  return s;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// gcore writes every readable mapping, a sanitizer's terabytes of shadow
// included (34 GB under ASan here); the plain build checks core dumps.
#define SKIP_CORE_DUMPS_UNDER_SANITIZERS(kind)                                        \
  do {                                                                                \
    if ((kind) == ImageKind::kCoreDump && kSanitized)                                 \
      GTEST_SKIP() << "gcore would write the sanitizer's shadow memory (tens of GB)"; \
  } while (0)

// Searches `image` for `needle`, then plants a copy in the heap and checks a
// new image of the same kind finds it (the control).
void ExpectAbsentWithControl(ImageKind kind, const MemoryImage &image, const uint8_t *needle,
                             size_t len, const std::string &what) {
  ASSERT_TRUE(image.error().empty()) << image.error();
  const Found leaked = FindWindows(image, needle, len);
  EXPECT_EQ(leaked.windows, 0u) << ImageName(kind) << " holds " << leaked.windows
                                << " 16-byte windows of " << what << ", the first in "
                                << leaked.first_place;
  PlantedCopy planted(needle, len);
  const MemoryImage control = TakeImage(kind);
  ASSERT_TRUE(control.error().empty()) << control.error();
  const Found found = FindWindows(control, needle, len);
  EXPECT_GE(found.windows, len - 15)
      << "positive control: " << ImageName(kind) << " misses bytes planted in the heap";
  if (!kSanitized) {
    EXPECT_EQ(control.skipped_bytes(), 0u) << "a mapping over 64 GiB was left out";
  }
}

// ---- NextOutput -------------------------------------------------------------

enum class Kind { kSmallSlice, kHotSlice, kOverflowSlice, kPerThread, kShared, kMutex, kVdso };

struct KindCase {
  Kind kind;
  ImageKind image;
};

const char *KindName(Kind k) {
  switch (k) {
    case Kind::kSmallSlice:
      return "small_slice";
    case Kind::kHotSlice:
      return "hot_slice";
    case Kind::kOverflowSlice:
      return "overflow_slice";
    case Kind::kPerThread:
      return "per_thread";
    case Kind::kShared:
      return "shared";
    case Kind::kMutex:
      return "mutex";
    case Kind::kVdso:
      return "vdso";
  }
  return "?";
}

const char *ImageParamName(ImageKind k) {
  switch (k) {
    case ImageKind::kForkChild:
      return "fork";
    case ImageKind::kRawForkChild:
      return "raw_clone";
    case ImageKind::kCoreDump:
      return "core";
  }
  return "?";
}

// The draw a thread of this kind makes.
void DrawAs(Kind k, void *out, size_t n) {
  switch (k) {
    case Kind::kSmallSlice:
    case Kind::kHotSlice:
    case Kind::kOverflowSlice:
      return StrategyFor(Strategy::kSlab).draw(out, n);
    case Kind::kPerThread:
      return StrategyFor(Strategy::kPerThread).draw(out, n);
    case Kind::kShared:
      return StrategyFor(Strategy::kShared).draw(out, n);
    case Kind::kMutex:
      return StrategyFor(Strategy::kMutex).draw(out, n);
    case Kind::kVdso:
      return StrategyFor(Strategy::kVdso).draw(out, n);
  }
}

bool OverflowProcess() {
  for (const auto &[name, value] : TestEnvironment())
    if (name == "GRNDPOOL_SLAB_BYTES") return true;
  return false;
}

class NextOutput : public ::testing::TestWithParam<KindCase> {};

TEST_P(NextOutput, IsNowhereInAnImage) {
  const Kind kind = GetParam().kind;
  const ImageKind image_kind = GetParam().image;
  SKIP_CORE_DUMPS_UNDER_SANITIZERS(image_kind);
  if ((kind == Kind::kOverflowSlice) != OverflowProcess())
    GTEST_SKIP() << "runs in the other process configuration";  // CTest registers each apart
  // Overflow: with an 8 KiB budget one segment of four slices is owned; four
  // threads hold them, so the worker shares the overflow slices.
  std::atomic<bool> release{false};
  std::vector<std::thread> holders;
  if (kind == Kind::kOverflowSlice) {
    std::atomic<int> holding{0};
    for (int i = 0; i < 4; ++i)
      holders.emplace_back([&] {
        (void)grndpool_u32();
        holding.fetch_add(1);
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
    while (holding.load() < 4) std::this_thread::yield();
  }
  Vault next(4096);
  std::string setup_error;
  MemoryImage image;
  std::thread worker([&] {
    uint32_t w;
    DrawAs(kind, &w, sizeof w);
    const struct grndpool_stats before = Snapshot();
    if (kind == Kind::kHotSlice) {
      // A thread that refills often moves to a hot slice.
      for (int i = 0; i < 64 * 1024 && Snapshot().hot_slices_in_use == before.hot_slices_in_use;
           ++i)
        for (int k = 0; k < 256; ++k) DrawAs(kind, &w, sizeof w);
      if (Snapshot().hot_slices_in_use == before.hot_slices_in_use)
        setup_error = "the thread never moved to a hot slice";
    }
    if (kind == Kind::kOverflowSlice && Snapshot().slices_in_use != before.slices_in_use)
      setup_error = "the worker got a slice of its own";
    // Right after a refill: the next bytes of the buffer are what a leak of
    // libcrypto's partial block would hold.
    if (kind != Kind::kVdso) {
      const uint64_t refills = Refills();
      for (int i = 0; i < 1 << 22 && Refills() == refills; ++i) DrawAs(kind, &w, sizeof w);
      if (Refills() == refills) setup_error = "no refill happened";
    }
    raise(SIGURG);  // saves the registers the refill used on this stack
    image = TakeImage(image_kind);
    for (size_t i = 0; i < next.size(); i += 16) DrawAs(kind, next.bytes() + i, 16);
  });
  worker.join();
  release = true;
  for (auto &t : holders) t.join();
  ASSERT_TRUE(setup_error.empty()) << setup_error;
  ExpectAbsentWithControl(image_kind, image, next.bytes(), next.size(),
                          std::string("the next output of a ") + KindName(kind) + " thread");
}

std::vector<KindCase> AllKindCases() {
  std::vector<KindCase> cases;
  for (Kind k : {Kind::kSmallSlice, Kind::kHotSlice, Kind::kOverflowSlice, Kind::kPerThread,
                 Kind::kShared, Kind::kMutex, Kind::kVdso})
    for (ImageKind i : {ImageKind::kForkChild, ImageKind::kRawForkChild, ImageKind::kCoreDump})
      cases.push_back({k, i});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Kinds, NextOutput, ::testing::ValuesIn(AllKindCases()),
                         [](const auto &info) {
                           return std::string(KindName(info.param.kind)) + "_" +
                                  ImageParamName(info.param.image);
                         });

// ---- LastSecret -------------------------------------------------------------

enum class Secret { kInline16, kCall16, k1000, k100000 };

struct SecretCase {
  Secret secret;
  ImageKind image;
};

const char *SecretName(Secret s) {
  switch (s) {
    case Secret::kInline16:
      return "inline16";
    case Secret::kCall16:
      return "call16";
    case Secret::k1000:
      return "b1000";
    case Secret::k100000:
      return "b100000";
  }
  return "?";
}

size_t SecretBytes(Secret s) {
  switch (s) {
    case Secret::kInline16:
    case Secret::kCall16:
      return 16;
    case Secret::k1000:
      return 1000;
    case Secret::k100000:
      return 100000;
  }
  return 0;
}

// Keeps the compiler from seeing the size.
size_t Opaque(size_t n) {
  __asm__ volatile("" : "+r"(n));
  return n;
}

class LastSecret : public ::testing::TestWithParam<SecretCase> {};

TEST_P(LastSecret, IsNowhereInAnImage) {
  if (OverflowProcess()) GTEST_SKIP() << "runs in the other process configuration";
  const Secret secret = GetParam().secret;
  const ImageKind image_kind = GetParam().image;
  SKIP_CORE_DUMPS_UNDER_SANITIZERS(image_kind);
  Vault vault(SecretBytes(secret));
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

std::vector<SecretCase> AllSecretCases() {
  std::vector<SecretCase> cases;
  for (Secret s : {Secret::kInline16, Secret::kCall16, Secret::k1000, Secret::k100000})
    for (ImageKind i : {ImageKind::kForkChild, ImageKind::kRawForkChild, ImageKind::kCoreDump})
      cases.push_back({s, i});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sizes, LastSecret, ::testing::ValuesIn(AllSecretCases()),
                         [](const auto &info) {
                           return std::string(SecretName(info.param.secret)) + "_" +
                                  ImageParamName(info.param.image);
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
