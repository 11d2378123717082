// SPDX-License-Identifier: Apache-2.0
// RFC 8439's ChaCha20 keystream vectors, for the tests of lib/keystream and
// lib/refill, which check libcrypto's output against them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grndpool::test {

// RFC 8439, A.1, test vectors #1 and #2: the all-zero key and nonce, block
// counters 0 and 1.
inline constexpr char kBlocks01[] =
    "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
    "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
    "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";

// The bytes a string of hex digit pairs spells.
inline std::vector<uint8_t> Hex(const char *hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; hex[i] != '\0'; i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  return out;
}

}  // namespace grndpool::test
