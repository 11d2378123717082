// SPDX-License-Identifier: Apache-2.0
// threaded_server.cpp: worker threads minting session tokens concurrently.
// Each thread that draws gets its own slice of the locked slab; the draw path takes
// no lock. The pool's counters are printed while the workers are alive (each holds
// a slice) and again after they exit (their slices are back in the slab).
#include <grndpool/grndpool.h>
#include <grndpool/grndpool.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kWorkers = 8;
constexpr int kRequestsPerWorker = 10000;

// A 128-bit session token, hex encoded.
std::string NewSessionToken() {
  std::array<std::byte, 16> raw;
  grndpool::fill(raw);
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * raw.size());
  for (std::byte b : raw) {
    token += kHex[static_cast<unsigned>(b) >> 4];
    token += kHex[static_cast<unsigned>(b) & 0xf];
  }
  return token;
}

void PrintStats(const char *when) {
  struct grndpool_stats st;  // "struct": the function has the same name
  grndpool_get_stats(&st);
  std::printf("%s: slices_in_use=%llu threads_seen=%llu locked_bytes=%llu bytes_served=%llu\n",
              when, static_cast<unsigned long long>(st.slices_in_use),
              static_cast<unsigned long long>(st.threads_seen),
              static_cast<unsigned long long>(st.locked_bytes),
              static_cast<unsigned long long>(st.bytes_served));
}

}  // namespace

int main() {
  std::atomic<std::uint64_t> tokens{0};
  std::vector<std::string> first_tokens(kWorkers);
  std::latch all_done(kWorkers);  // every worker has served its requests
  std::latch shut_down(1);        // main has taken its snapshot; workers may exit

  // Stand-in for a request loop: every "request" mints a token.
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kRequestsPerWorker; ++i) {
        std::string token = NewSessionToken();
        if (i == 0) first_tokens[static_cast<std::size_t>(w)] = token;
        tokens.fetch_add(1, std::memory_order_relaxed);
      }
      all_done.count_down();
      shut_down.wait();
    });
  }
  all_done.wait();
  PrintStats("workers alive ");
  shut_down.count_down();
  for (std::thread &t : workers) t.join();

  for (int w = 0; w < kWorkers; ++w)
    std::printf("worker %d first token: %s\n", w,
                first_tokens[static_cast<std::size_t>(w)].c_str());
  std::printf("tokens minted: %llu\n", static_cast<unsigned long long>(tokens.load()));
  std::printf("pool: %s\n", grndpool_describe());
  PrintStats("workers joined");

  // Tokens from different workers must differ.
  for (int a = 0; a < kWorkers; ++a)
    for (int b = a + 1; b < kWorkers; ++b)
      if (first_tokens[static_cast<std::size_t>(a)] == first_tokens[static_cast<std::size_t>(b)])
        return 1;
  return tokens.load() == std::uint64_t{kWorkers} * kRequestsPerWorker ? 0 : 1;
}
