// SPDX-License-Identifier: Apache-2.0
// lib/refill: the keystream is RFC 8439 ChaCha20 from libcrypto, and fast key
// erasure leaves no copy of a key that produced served bytes anywhere in
// writable memory. No draw runs in this process: the refill is driven directly.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/fork.h"
#include "lib/refill.h"
#include "lib/stats.h"
#include "tests/emu/emu.h"

namespace grndpool::test {
namespace {

// RFC 8439, A.1, test vectors #1 and #2: the all-zero key and nonce, block
// counters 0 and 1.
const char kBlocks01[] =
    "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
    "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
    "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";

std::vector<uint8_t> Hex(const char *hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; hex[i] != '\0'; i += 2)
    out.push_back(std::stoi(std::string(hex + i, 2), nullptr, 16));
  return out;
}

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
uint8_t g_kernel_key[kChainKeyBytes];
bool g_kernel_key_set = false;
const kernel::KernelOps *g_emu = nullptr;
kernel::KernelOps g_ops;

void KernelFill(void *buf, size_t len) {
  if (g_kernel_key_set && len == kChainKeyBytes) {
    // Byte by byte: a sanitizer's memcpy may stage the bytes in its own stack.
    auto *out = static_cast<volatile uint8_t *>(buf);
    for (size_t i = 0; i < len; ++i) out[i] = g_kernel_key[i];
    explicit_bzero(g_kernel_key, sizeof g_kernel_key);
    g_kernel_key_set = false;
    return;
  }
  g_emu->fill(buf, len);
}

class Refill : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    emu::EmuConfig config;
    config.mode = kernel::GenerationMode::kPerDraw;  // the draw path asks, not the refill
    g_emu = emu::Ops(config);
    g_ops = *g_emu;
    g_ops.fill = KernelFill;
    InitRefill(RefillConfig{RefillMode::kChacha20, 1 << 20, &g_ops, 1});
  }
  // The kernel hands out `key` as the next refill's key.
  static void Key(SliceHeader *, const uint8_t *key) {
    memcpy(g_kernel_key, key, kChainKeyBytes);
    g_kernel_key_set = true;
  }
};

TEST_F(Refill, KeystreamIsRfc8439ChaCha20) {
  Slice slice;
  const uint8_t zero_key[kChainKeyBytes] = {};
  Key(slice.header, zero_key);
  RefillSlice(slice.header, kCapacity, RefillReason{});
  const std::vector<uint8_t> want = Hex(kBlocks01);
  // The first 32 bytes of keystream became the next key; the data follows.
  EXPECT_EQ(memcmp(slice.header->next_key, want.data(), 32), 0);
  EXPECT_EQ(memcmp(slice.header->data(), want.data() + 32, want.size() - 32), 0);
  EXPECT_EQ(slice.header->avail, static_cast<int32_t>(kCapacity));
}

// Every writable mapping of the process, searched for `needle`. Redzones and
// freed memory are read too, so it is not instrumented.
__attribute__((no_sanitize("address", "thread", "undefined"))) bool SameBytes(uintptr_t at,
                                                                              const uint8_t *needle,
                                                                              size_t len) {
  const auto *p = reinterpret_cast<const volatile uint8_t *>(at);
  for (size_t i = 0; i < len; ++i)
    if (p[i] != needle[i]) return false;
  return true;
}

int CountInMemory(const uint8_t *needle, size_t len) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int found = 0;
  while (std::getline(maps, line)) {
    uintptr_t lo, hi;
    char perms[8];
    if (sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
        perms[1] != 'w' || line.find("[vvar") != std::string::npos)
      continue;
    // Sanitizer shadow and allocator reservations are terabytes of untouched
    // zeros; the heap, stacks and library data are far smaller.
    if (hi - lo > (256ul << 20)) continue;
    for (uintptr_t p = lo; p + len <= hi; p += 4)
      if (SameBytes(p, needle, len)) ++found;
  }
  return found;
}

// A refill may run in a signal handler that interrupted malloc, so it never
// makes a cipher context: with every context taken (as by refills in progress
// on other threads) a refill takes kernel bytes; once one is back, it keys the
// stream again. Contexts belong to no thread: one refill returns what it took.
TEST_F(Refill, WithThePoolEmptyARefillTakesKernelBytes) {
  const std::vector<uint8_t> want = Hex(kBlocks01);
  const uint8_t zero_key[kChainKeyBytes] = {};
  HoldAllCiphersForTesting(true);
  Slice slice;
  Key(slice.header, zero_key);
  RefillSlice(slice.header, kCapacity, RefillReason{});
  HoldAllCiphersForTesting(false);
  EXPECT_NE(memcmp(slice.header->data(), want.data() + 32, 64), 0);
  EXPECT_TRUE(std::all_of(slice.header->next_key, slice.header->next_key + kChainKeyBytes,
                          [](uint8_t b) { return b == 0; }))
      << "no key left in the slot";
  // This thread, then another: a context held by a thread between its refills
  // would leave the other none.
  for (int round = 0; round < 2; ++round) {
    bool keyed_stream = false;
    auto refill = [&] {
      Slice s;
      Key(s.header, zero_key);
      RefillSlice(s.header, kCapacity, RefillReason{});
      keyed_stream = memcmp(s.header->data(), want.data() + 32, 64) == 0;
    };
    if (round == 0)
      refill();
    else
      std::thread(refill).join();
    EXPECT_TRUE(keyed_stream) << "round " << round;
  }
}

// The stack below this frame right after a refill, where libcrypto's
// keystream code ran: read before any other call can overwrite it, so the test
// sees what a fork at that moment would copy into a child.
__attribute__((noinline, no_sanitize("address", "thread", "undefined"))) void CopyStackBelow(
    std::vector<uint8_t> *out) {
  const uintptr_t frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const auto *p = reinterpret_cast<const volatile uint8_t *>(frame - out->size());
  for (size_t i = 0; i < out->size(); ++i) (*out)[i] = p[i];
}

TEST_F(Refill, NoKeyLeftInTheStackBelow) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's instrumentation leaves a copy ~1 KiB below this frame,
  // in the live frames of the refill's own call chain (above the scrub); the
  // plain and ASan builds check what ships.
  GTEST_SKIP() << "not meaningful under ThreadSanitizer";
#endif
  Slice slice;
  uint8_t key[kChainKeyBytes];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(0x3c ^ (i * 53));
  std::vector<uint8_t> below(16384);
  Key(slice.header, key);
  RefillSlice(slice.header, kCapacity, RefillReason{});
  CopyStackBelow(&below);
  const auto at = std::search(below.begin(), below.end(), key, key + sizeof key);
  EXPECT_EQ(at, below.end()) << "the refill's key is in the stack, " << (below.end() - at)
                             << " bytes below this frame";
  explicit_bzero(key, sizeof key);
}

TEST_F(Refill, FastKeyErasureLeavesNoCopyOfTheUsedKey) {
  Slice slice;
  uint8_t key[kChainKeyBytes];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(0xa5 ^ (i * 29));
  Key(slice.header, key);
  RefillSlice(slice.header, kCapacity, RefillReason{});
  // The test's own copy is inverted, so only a library copy can match.
  uint8_t needle[kChainKeyBytes];
  for (size_t i = 0; i < sizeof key; ++i) needle[i] = static_cast<uint8_t>(~key[i]);
  explicit_bzero(key, sizeof key);
  for (uint8_t &b : needle) b = static_cast<uint8_t>(~b);
  EXPECT_EQ(CountInMemory(needle, sizeof needle), 1) << "only the needle itself may hold the key";
  // The next key is in the slab slot and nowhere else writable either.
  uint8_t next[kChainKeyBytes];
  memcpy(next, slice.header->next_key, sizeof next);
  EXPECT_EQ(CountInMemory(next, sizeof next), 2) << "the slot and this test's copy, nothing else";
}

// Every refill takes a fresh kernel key, whatever the chain left in the slot:
// a raw clone() that copied a refill's key (from libcrypto's context, on a
// heap that is not wiped on fork) can compute that refill's output, and no
// later one.
TEST_F(Refill, EveryRefillTakesAFreshKernelKey) {
  Slice slice;
  memset(slice.header->next_key, 0, kChainKeyBytes);  // a chain left keyed with zeros
  const uint64_t rekeys = g_counters.rekeys.load();
  RefillSlice(slice.header, kCapacity, RefillReason{});
  RefillSlice(slice.header, kCapacity, RefillReason{});
  const std::vector<uint8_t> want = Hex(kBlocks01);
  EXPECT_NE(memcmp(slice.header->data(), want.data() + 32, 64), 0) << "the old chain was used";
  EXPECT_EQ(g_counters.rekeys.load() - rekeys, 2u);
}

TEST_F(Refill, LargeRequestsAreCutAtTheRekeyBudget) {
  Slice slice;
  const uint8_t zero_key[kChainKeyBytes] = {};
  Key(slice.header, zero_key);
  const uint64_t rekeys = g_counters.rekeys.load();
  std::vector<uint8_t> big(3u << 20);  // three budgets of 1 MiB
  GenerateInto(slice.header, big.data(), big.size());
  // The first piece comes from the zero key, straight from block 0 (no next
  // key is made for output outside a slice); each later one is keyed anew.
  const std::vector<uint8_t> want = Hex(kBlocks01);
  EXPECT_EQ(memcmp(big.data(), want.data(), 64), 0);
  EXPECT_NE(memcmp(big.data() + (1u << 20) - kChainKeyBytes, want.data(), 64), 0);
  EXPECT_GE(g_counters.rekeys.load() - rekeys, 3u);
}

}  // namespace
}  // namespace grndpool::test
