// SPDX-License-Identifier: Apache-2.0
// lib/refill: every refill, and every piece of a large draw, is made from a
// fresh kernel key (RFC 8439 ChaCha20 from libcrypto, lib/keystream.h), the
// key slot is wiped once used, and kernel bytes stand in when libcrypto
// cannot serve; libcrypto starts only once the kernel bytes filled pass
// GRNDPOOL_CHACHA20_AFTER. No draw runs in this process: the refill is driven
// directly. The RefillStart cases run in a process of their own (CTest runs
// the two suites apart): libcrypto starts once per process.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lib/fork.h"
#include "lib/keystream.h"
#include "lib/refill.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "tests/chacha20_vectors.h"
#include "tests/emu/emu.h"

namespace grndpool::test {
namespace {

constexpr uint32_t kCapacity = 960;

struct Slice {
  SliceHeader *header;
  Slice() {
    void *p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    header = static_cast<SliceHeader *>(p);
  }
  ~Slice() { munmap(header, 4096); }
};

// The kernel's next 32-byte answer, when a test chose it (wiped once given).
uint8_t g_kernel_key[kRefillKeyBytes];
bool g_kernel_key_set = false;
const kernel::KernelOps *g_emu = nullptr;
kernel::KernelOps g_kernel_ops;

kernel::FillPath KernelFill(void *buf, size_t len) {
  if (g_kernel_key_set && len == kRefillKeyBytes) {
    // Byte by byte: a sanitizer's memcpy may stage the bytes in its own stack.
    auto *out = static_cast<volatile uint8_t *>(buf);
    for (size_t i = 0; i < len; ++i) out[i] = g_kernel_key[i];
    explicit_bzero(g_kernel_key, sizeof g_kernel_key);
    g_kernel_key_set = false;
    return kernel::FillPath::kModel;
  }
  return g_emu->fill(buf, len);
}

// Starts the refill module on the model kernel, libcrypto after `after` bytes.
void InitWithModelKernel(uint64_t after) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kPerDraw;  // the draw path asks, not the refill
  g_emu = emu::Ops(config);
  g_kernel_ops = *g_emu;
  g_kernel_ops.fill = KernelFill;
  static Process process;
  process.options = DefaultOptions();
  process.options.refill = RefillMode::kChacha20;
  process.options.rekey_bytes = 1 << 20;
  process.options.chacha20_after = after;
  process.geometry = ComputeGeometry(process.options);
  process.kernel = &g_kernel_ops;
  InitRefill(process);
}

// The kernel hands out `key` as the next refill's key.
void Key(SliceHeader *, const uint8_t *key) {
  memcpy(g_kernel_key, key, kRefillKeyBytes);
  g_kernel_key_set = true;
}

class Refill : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    InitWithModelKernel(0);
    ASSERT_TRUE(KeystreamStarted()) << "GRNDPOOL_CHACHA20_AFTER=0 starts libcrypto at once";
  }
};

TEST_F(Refill, KeystreamIsRfc8439ChaCha20) {
  Slice slice;
  const uint8_t zero_key[kRefillKeyBytes] = {};
  Key(slice.header, zero_key);
  RefillSlice(slice.header, kCapacity, Stamp{});
  const std::vector<uint8_t> want = Hex(kBlocks01);
  // The data is the keystream of the kernel's key from block 0 on.
  EXPECT_EQ(memcmp(slice.header->data(), want.data(), want.size()), 0);
  EXPECT_EQ(slice.header->avail, static_cast<int32_t>(kCapacity));
  EXPECT_TRUE(std::all_of(slice.header->refill_key, slice.header->refill_key + kRefillKeyBytes,
                          [](uint8_t b) { return b == 0; }))
      << "the key slot is wiped once the refill is made";
}

// A refill may run in a signal handler that interrupted malloc, so it never
// makes a cipher context: with every context taken (as by refills in progress
// on other threads) a refill takes kernel bytes; once one is back, it keys the
// stream again. Contexts belong to no thread: one refill returns what it took.
TEST_F(Refill, WithThePoolEmptyARefillTakesKernelBytes) {
  const std::vector<uint8_t> want = Hex(kBlocks01);
  const uint8_t zero_key[kRefillKeyBytes] = {};
  HoldAllCiphersForTesting(true);
  Slice slice;
  Key(slice.header, zero_key);
  RefillSlice(slice.header, kCapacity, Stamp{});
  HoldAllCiphersForTesting(false);
  EXPECT_NE(memcmp(slice.header->data(), want.data(), 64), 0);
  EXPECT_TRUE(std::all_of(slice.header->refill_key, slice.header->refill_key + kRefillKeyBytes,
                          [](uint8_t b) { return b == 0; }))
      << "no key left in the slot";
  // This thread, then another: a context held by a thread between its refills
  // would leave the other none.
  for (int round = 0; round < 2; ++round) {
    bool keyed_stream = false;
    auto refill = [&] {
      Slice s;
      Key(s.header, zero_key);
      RefillSlice(s.header, kCapacity, Stamp{});
      keyed_stream = memcmp(s.header->data(), want.data(), 64) == 0;
    };
    if (round == 0)
      refill();
    else
      std::thread(refill).join();
    EXPECT_TRUE(keyed_stream) << "round " << round;
  }
}

// Every refill takes a fresh kernel key, whatever its slot held: a raw
// clone() that copied a refill's key (from libcrypto's context, on a heap
// that is not wiped on fork) can compute that refill's output, and no later
// one.
TEST_F(Refill, EveryRefillTakesAFreshKernelKey) {
  Slice slice;
  memset(slice.header->refill_key, 0, kRefillKeyBytes);  // a slot left holding zeros
  const uint64_t rekeys = g_counters.rekeys.load();
  RefillSlice(slice.header, kCapacity, Stamp{});
  const std::vector<uint8_t> first(slice.header->data(), slice.header->data() + kCapacity);
  RefillSlice(slice.header, kCapacity, Stamp{});
  const std::vector<uint8_t> want = Hex(kBlocks01);
  EXPECT_NE(memcmp(slice.header->data(), want.data(), 64), 0) << "the slot's zeros keyed it";
  EXPECT_NE(memcmp(slice.header->data(), first.data(), 64), 0) << "two refills, one key";
  EXPECT_EQ(g_counters.rekeys.load() - rekeys, 2u);
}

TEST_F(Refill, LargeRequestsAreCutAtTheRekeyBudget) {
  Slice slice;
  const uint8_t zero_key[kRefillKeyBytes] = {};
  Key(slice.header, zero_key);
  const uint64_t rekeys = g_counters.rekeys.load();
  std::vector<uint8_t> big(3u << 20);  // three budgets of 1 MiB
  GenerateInto(slice.header, big.data(), big.size());
  // The first piece comes from the zero key, from block 0; each later one,
  // at each budget, is keyed anew.
  const std::vector<uint8_t> want = Hex(kBlocks01);
  EXPECT_EQ(memcmp(big.data(), want.data(), 64), 0);
  EXPECT_NE(memcmp(big.data() + (1u << 20), want.data(), 64), 0);
  EXPECT_NE(memcmp(big.data() + (2u << 20), want.data(), 64), 0);
  EXPECT_EQ(g_counters.rekeys.load() - rekeys, 3u);
}

// Until the kernel bytes filled pass the threshold, refills are kernel bytes
// (no key taken, libcrypto not started); the refill that passes it starts
// libcrypto and is itself a keystream refill, as is every one after it.
TEST(RefillStart, KernelBytesUntilTheThresholdThenTheKeystream) {
  constexpr uint64_t kAfter = 8 * 960;
  InitWithModelKernel(kAfter);
  const std::vector<uint8_t> want = Hex(kBlocks01);
  const uint8_t zero_key[kRefillKeyBytes] = {};
  Slice slice;
  const uint64_t rekeys = g_counters.rekeys.load();
  for (uint64_t filled = kCapacity; filled <= kAfter; filled += kCapacity) {
    ASSERT_FALSE(KeystreamStarted()) << "started after " << filled - kCapacity << " bytes";
    Key(slice.header, zero_key);  // a keystream refill would take it as its key
    RefillSlice(slice.header, kCapacity, Stamp{});
    EXPECT_NE(memcmp(slice.header->data(), want.data(), 64), 0) << "keystream before the threshold";
    g_kernel_key_set = false;
  }
  EXPECT_EQ(g_counters.rekeys.load(), rekeys) << "no kernel key is taken for a kernel-byte refill";
  EXPECT_FALSE(KeystreamStarted());
  Key(slice.header, zero_key);
  RefillSlice(slice.header, kCapacity, Stamp{});
  EXPECT_TRUE(KeystreamStarted()) << "the refill past the threshold starts libcrypto";
  EXPECT_EQ(memcmp(slice.header->data(), want.data(), want.size()), 0)
      << "the refill that started libcrypto is a keystream refill";
  EXPECT_EQ(g_counters.rekeys.load(), rekeys + 1);
}

}  // namespace
}  // namespace grndpool::test
