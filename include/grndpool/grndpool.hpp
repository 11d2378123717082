// SPDX-License-Identifier: Apache-2.0
// Header-only C++20 interface over the C ABI of grndpool; grndpool_cxx(3).
#ifndef GRNDPOOL_GRNDPOOL_HPP
#define GRNDPOOL_GRNDPOOL_HPP

// Checked first, and the rest skipped, so an older standard gets this one
// line instead of errors from inside the header.
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "grndpool.hpp needs C++20 (-std=c++20); from older C++ or C, include <grndpool/grndpool.h>"
#else

#include <grndpool/grndpool.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
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

// The process-wide counters (grndpool_get_stats()), every field of this
// header's struct filled: a snapshot, each field read on its own. Never
// fails; async-signal-safe.
inline grndpool_stats stats() noexcept {
  grndpool_stats s{};
  s.size = sizeof s;
  grndpool_get_stats(&s);
  return s;
}

// One line on what the pool does (grndpool_describe()). Not async-signal-safe:
// it waits for start-up when another thread is running it.
inline std::string describe() {
  return grndpool_describe();
}

// The same fields as one JSON object (grndpool_describe_json()).
inline std::string describe_json() {
  return grndpool_describe_json();
}

// The types uniform() takes: every integer type but bool, which has no
// unsigned counterpart to measure a range with (for a coin, grndpool_u32() & 1).
template <class T>
concept uniform_integral = std::integral<T> && !std::same_as<std::remove_cv_t<T>, bool>;

namespace detail {
// uniform() with hi < lo: a caller's error, reported, never a value.
template <class T>
[[noreturn]] void bad_uniform_range(T lo, T hi) {
  std::string text;
  if constexpr (std::is_signed_v<T>)
    text = "(" + std::to_string(static_cast<long long>(lo)) + ", " +
           std::to_string(static_cast<long long>(hi)) + ")";
  else
    text = "(" + std::to_string(static_cast<unsigned long long>(lo)) + ", " +
           std::to_string(static_cast<unsigned long long>(hi)) + ")";
  text = "grndpool::uniform" + text + ": hi is below lo; accepted: lo <= hi";
#if defined(__cpp_exceptions)
  throw std::invalid_argument(text);
#else
  std::fprintf(stderr, "%s\n", text.c_str());
  std::abort();
#endif
}
}  // namespace detail

// Uniform integer in the closed range [lo, hi], without bias; lo when hi ==
// lo. hi < lo throws std::invalid_argument naming both (built without
// exceptions: prints that line to stderr and aborts).
template <uniform_integral T>
T uniform(T lo, T hi) {
  using U = std::make_unsigned_t<T>;
  if (hi < lo) detail::bad_uniform_range(lo, hi);
  if (hi == lo) return lo;
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
#endif  // C++20
#endif  // GRNDPOOL_GRNDPOOL_HPP
