// SPDX-License-Identifier: Apache-2.0
// lib/keystream: RFC 8439 ChaCha20 from libcrypto, for any length, and
// nothing of a call left behind: neither its key nor any byte of its output
// (nor the unused rest of its last block) anywhere in this process's
// writable memory but the caller's buffers, and none in the stack below.
// Every search has a positive control (a planted copy is found).
#include <gtest/gtest.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "lib/keystream.h"
#include "tests/chacha20_vectors.h"

namespace grndpool::test {
namespace {

class Keystream : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitKeystream(4)); }
};

TEST_F(Keystream, IsRfc8439ChaCha20) {
  const uint8_t zero_key[kKeystreamKeyBytes] = {};
  const std::vector<uint8_t> want = Hex(kBlocks01);
  std::vector<uint8_t> got(want.size());
  ASSERT_TRUE(grndpool::Keystream(zero_key, got.data(), got.size()));
  EXPECT_EQ(got, want);
}

// Whole blocks and a tail through a stack block give the same stream.
TEST_F(Keystream, AnyLengthIsAPrefixOfTheStream) {
  uint8_t key[kKeystreamKeyBytes];
  ASSERT_EQ(getrandom(key, sizeof key, 0), static_cast<ssize_t>(sizeof key));
  std::vector<uint8_t> stream(1024);
  ASSERT_TRUE(grndpool::Keystream(key, stream.data(), stream.size()));
  for (size_t len : {1, 31, 32, 63, 64, 65, 127, 128, 129, 992, 1000, 1023}) {
    std::vector<uint8_t> got(len);
    ASSERT_TRUE(grndpool::Keystream(key, got.data(), len));
    EXPECT_TRUE(std::equal(got.begin(), got.end(), stream.begin())) << len << " bytes";
  }
}

TEST_F(Keystream, NoContextFreeMeansNoOutput) {
  const uint8_t zero_key[kKeystreamKeyBytes] = {};
  uint8_t out[64];
  HoldAllCiphersForTesting(true);
  const bool served = grndpool::Keystream(zero_key, out, sizeof out);
  HoldAllCiphersForTesting(false);
  EXPECT_FALSE(served);
  EXPECT_TRUE(grndpool::Keystream(zero_key, out, sizeof out));
}

// Reads memory the sanitizers consider out of bounds (redzones, freed
// chunks), as a scan by an attacker would: not instrumented.
__attribute__((no_sanitize("address", "thread", "undefined"))) bool SameBytes(uintptr_t at,
                                                                              const uint8_t *needle,
                                                                              size_t len) {
  const auto *p = reinterpret_cast<const volatile uint8_t *>(at);
  for (size_t i = 0; i < len; ++i)
    if (p[i] != needle[i]) return false;
  return true;
}

// Copies of `needle` in this process's writable memory (the needle included).
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
    for (uintptr_t p = lo; p + len <= hi; p += 1)
      if (SameBytes(p, needle, len)) ++found;
  }
  return found;
}

// Inverted, so the test's reference copies never match what they look for.
std::vector<uint8_t> Inverted(const uint8_t *p, size_t len) {
  std::vector<uint8_t> v(p, p + len);
  for (uint8_t &b : v) b = static_cast<uint8_t>(~b);
  return v;
}

// After a call of each length (992 and 16352 are a slice's key slot and data
// before the refill was cut to whole blocks; 1000 and 100000 are large
// draws), the key, the output's last 32 bytes and the 32 keystream bytes
// after it exist only where the test put them.
TEST_F(Keystream, LeavesNoKeyAndNoOutputBehind) {
  for (size_t len : {992, 1000, 16352, 100000}) {
    uint8_t key[kKeystreamKeyBytes];
    ASSERT_EQ(getrandom(key, sizeof key, 0), static_cast<ssize_t>(sizeof key));
    std::vector<uint8_t> out(len + 64);
    ASSERT_TRUE(grndpool::Keystream(key, out.data(), out.size()));  // the reference stream
    std::vector<uint8_t> tail_ref = Inverted(out.data() + len - 32, 32);
    std::vector<uint8_t> after_ref = Inverted(out.data() + len, 32);
    explicit_bzero(out.data(), out.size());
    ASSERT_TRUE(grndpool::Keystream(key, out.data(), len));  // the call under test
    const std::vector<uint8_t> key_ref = Inverted(key, sizeof key);
    explicit_bzero(key, sizeof key);
    explicit_bzero(out.data(), out.size());
    // Back to the real bytes, each in one place only: the needle itself.
    std::vector<uint8_t> needle_key = Inverted(key_ref.data(), key_ref.size());
    std::vector<uint8_t> needle_tail = Inverted(tail_ref.data(), tail_ref.size());
    std::vector<uint8_t> needle_after = Inverted(after_ref.data(), after_ref.size());
    EXPECT_EQ(CountInMemory(needle_key.data(), 32), 1) << len << ": the key was left behind";
    EXPECT_EQ(CountInMemory(needle_tail.data(), 32), 1) << len << ": output was left behind";
    EXPECT_EQ(CountInMemory(needle_after.data(), 32), 1)
        << len << ": the rest of the last keystream block was left behind";
    // Positive control: a planted copy on the heap is found.
    std::vector<uint8_t> planted(needle_tail);
    EXPECT_EQ(CountInMemory(needle_tail.data(), 32), 2) << "the scan misses the heap";
    explicit_bzero(planted.data(), planted.size());
    explicit_bzero(needle_key.data(), 32);
    explicit_bzero(needle_tail.data(), 32);
    explicit_bzero(needle_after.data(), 32);
  }
}

// The stack below this frame right after a call, where libcrypto's keystream
// code ran: read before any other call can overwrite it, so the test sees
// what a fork at that moment would copy into a child.
__attribute__((noinline, no_sanitize("address", "thread", "undefined"))) void CopyStackBelow(
    std::vector<uint8_t> *out) {
  const uintptr_t frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const auto *p = reinterpret_cast<const volatile uint8_t *>(frame - out->size());
  for (size_t i = 0; i < out->size(); ++i) (*out)[i] = p[i];
}

TEST_F(Keystream, LeavesNothingInTheStackBelow) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's instrumentation keeps a copy in the live frames of the
  // call chain (above the scrub); the plain and ASan builds check what ships.
  GTEST_SKIP() << "ThreadSanitizer keeps its own copies in live frames";
#endif
  uint8_t key[kKeystreamKeyBytes];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(0x3c ^ (i * 53));
  std::vector<uint8_t> out(1000);
  std::vector<uint8_t> below(16384);
  ASSERT_TRUE(grndpool::Keystream(key, out.data(), out.size()));
  CopyStackBelow(&below);
  auto at = std::search(below.begin(), below.end(), key, key + sizeof key);
  EXPECT_EQ(at, below.end()) << "the key is in the stack, " << (below.end() - at)
                             << " bytes below this frame";
  at = std::search(below.begin(), below.end(), out.end() - 16, out.end());
  EXPECT_EQ(at, below.end()) << "the output's tail is in the stack below";
  // Positive control: what this frame leaves below itself is seen.
  std::vector<uint8_t> control(16384);
  [&]() __attribute__((noinline)) {
    volatile uint8_t mark[64];
    for (size_t i = 0; i < sizeof mark; ++i) mark[i] = key[i % sizeof key];
  }
  ();
  CopyStackBelow(&control);
  EXPECT_NE(std::search(control.begin(), control.end(), key, key + sizeof key), control.end())
      << "the stack copy misses what a frame below left";
}

}  // namespace
}  // namespace grndpool::test
