// SPDX-License-Identifier: Apache-2.0
// Header-only C++20 interface over the C ABI of grndpool.
#ifndef GRNDPOOL_GRNDPOOL_HPP
#define GRNDPOOL_GRNDPOOL_HPP

#include <grndpool/grndpool.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <type_traits>

namespace grndpool {

// A UniformRandomBitGenerator producing 64-bit words, for <random> distributions
// and std::shuffle. Stateless: copies share the process-wide pool.
class engine {
 public:
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() const { return grndpool_u64(); }
  friend bool operator==(const engine &, const engine &) = default;
};
static_assert(std::uniform_random_bit_generator<engine>);

// Fills bytes with random data.
inline void fill(std::span<std::byte> bytes) {
  grndpool_buf(bytes.data(), bytes.size());
}

// Uniform integer in the closed range [lo, hi], without bias.
template <std::integral T>
T uniform(T lo, T hi) {
  using U = std::make_unsigned_t<T>;
  if (hi <= lo) return lo;
  const U span = static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo));
  if constexpr (sizeof(T) <= sizeof(std::uint32_t)) {
    if (span < std::numeric_limits<std::uint32_t>::max())
      return static_cast<T>(static_cast<U>(lo) +
                            static_cast<U>(grndpool_uniform(static_cast<std::uint32_t>(span) + 1)));
    return static_cast<T>(static_cast<U>(lo) + static_cast<U>(grndpool_u32()));
  } else {
    std::uniform_int_distribution<U> dist(0, span);
    engine e;
    return static_cast<T>(static_cast<U>(lo) + dist(e));
  }
}

}  // namespace grndpool
#endif  // GRNDPOOL_GRNDPOOL_HPP
