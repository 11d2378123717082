// SPDX-License-Identifier: Apache-2.0
// shuffle.cpp: grndpool from C++ with <random> and <algorithm>.
#include <grndpool/grndpool.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

int main() {
  // grndpool::engine is a UniformRandomBitGenerator: use it anywhere <random> wants
  // one. It has no state to seed and is cheap to copy.
  grndpool::engine rng;

  // Shuffle a deck.
  std::vector<int> deck(52);
  std::iota(deck.begin(), deck.end(), 0);
  std::shuffle(deck.begin(), deck.end(), rng);
  static const char kSuits[] = "CDHS";
  static const char *const kRanks[] = {"2", "3",  "4", "5", "6", "7", "8",
                                       "9", "10", "J", "Q", "K", "A"};
  std::printf("hand:");
  for (int card : std::vector<int>(deck.begin(), deck.begin() + 5))
    std::printf(" %s%c", kRanks[card % 13], kSuits[card / 13]);
  std::printf("\n");

  // Standard distributions work too.
  std::uniform_int_distribution<int> percent(1, 100);
  std::printf("percent: %d\n", percent(rng));

  // grndpool::uniform: an unbiased integer in a closed range, any integral type.
  std::printf("port: %d\n", grndpool::uniform(49152, 65535));
  std::printf("offset: %lld\n", static_cast<long long>(grndpool::uniform<long long>(-1000, 1000)));

  // grndpool::fill: random bytes into any contiguous buffer, e.g. a nonce.
  std::array<std::byte, 12> nonce;
  grndpool::fill(nonce);
  std::string hex;
  char two[3];
  for (std::byte b : nonce) {
    std::snprintf(two, sizeof two, "%02x", static_cast<unsigned>(b));
    hex += two;
  }
  std::printf("nonce: %s\n", hex.c_str());

  // Sanity checks so the example doubles as a smoke test.
  std::vector<int> sorted = deck;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 52; ++i)
    if (sorted[static_cast<std::size_t>(i)] != i) return 1;
  return 0;
}
