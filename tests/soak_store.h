// SPDX-License-Identifier: Apache-2.0
// The soak test's memory of what was drawn, in bounded space: every 8-byte
// draw (and every pair of 4-byte draws) as a word, 16-byte blocks of larger
// draws (all of 16-byte draws, a sample of bigger ones), each checked against
// a window of the most recent ~1M words and ~1M blocks (two generations of an
// open-addressing table; the older one is dropped when the newer fills). Every
// aligned 8-byte word drawn is checked for zero. Threads batch into a Recorder.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

namespace grndpool::test {

using SoakBlock = std::array<uint64_t, 2>;

// Two generations of 2^bits slots each; a generation takes 2^(bits-1) keys.
template <typename Key>
class Window {
 public:
  explicit Window(int bits) : mask_((size_t{1} << bits) - 1), cur_(mask_ + 1), old_(mask_ + 1) {}

  // False when `key` (never zero) is in the window already.
  bool Insert(const Key &key) {
    if (Find(old_, key) || Find(cur_, key)) return false;
    if (count_ >= (mask_ + 1) / 2) {
      old_.swap(cur_);
      std::fill(cur_.begin(), cur_.end(), Key{});
      count_ = 0;
    }
    size_t i = Hash(key) & mask_;
    while (!(cur_[i] == Key{})) i = (i + 1) & mask_;
    cur_[i] = key;
    ++count_;
    return true;
  }

 private:
  static size_t Hash(uint64_t k) { return static_cast<size_t>(k * 0x9e3779b97f4a7c15ull >> 7); }
  static size_t Hash(const SoakBlock &k) { return Hash(k[0] ^ k[1]); }
  bool Find(const std::vector<Key> &t, const Key &key) const {
    for (size_t i = Hash(key) & mask_; !(t[i] == Key{}); i = (i + 1) & mask_)
      if (t[i] == key) return true;
    return false;
  }

  size_t mask_;
  std::vector<Key> cur_, old_;
  size_t count_ = 0;
};

class Soak {
 public:
  void Add(const std::vector<uint64_t> &words, const std::vector<SoakBlock> &blocks,
           uint64_t draws) {
    draws_.fetch_add(draws, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t w : words)
      if (!words_.Insert(w)) Repeat("8-byte word", w, 0);
    for (const SoakBlock &b : blocks)
      if (!blocks_.Insert(b)) Repeat("16-byte block", b[0], b[1]);
  }
  void Zero(const char *what) {
    if (zeros_.fetch_add(1) < 5) fprintf(stderr, "soak: all-zero 8-byte word (%s)\n", what);
  }

  // From a signal handler: no lock, no allocation.
  void HandlerWord(uint64_t w) {
    const uint64_t i = handler_draws_.fetch_add(1, std::memory_order_relaxed);
    if (w == 0) handler_zeros_.fetch_add(1, std::memory_order_relaxed);
    if (i < kSlots) slots_[i].store(w, std::memory_order_relaxed);
  }
  // Moves the handlers' words into the window; one thread only. A handler that
  // took its slot but has not written it yet is left for the next call.
  void DrainHandlerWords() {
    const uint64_t n = std::min<uint64_t>(handler_draws_.load(), kSlots);
    std::vector<uint64_t> words;
    for (; drained_ < n; ++drained_) {
      const uint64_t w = slots_[drained_].load(std::memory_order_relaxed);
      if (w == 0) break;
      words.push_back(w);
    }
    Add(words, {}, 0);
  }

  bool Failed() const { return repeats_.load() != 0 || ZeroWords() != 0; }
  uint64_t Draws() const { return draws_.load() + handler_draws_.load(); }
  uint64_t HandlerDraws() const { return handler_draws_.load(); }
  uint64_t Repeats() const { return repeats_.load(); }
  uint64_t ZeroWords() const { return zeros_.load() + handler_zeros_.load(); }
  uint64_t HandlerZeroWords() const { return handler_zeros_.load(); }

 private:
  static constexpr size_t kSlots = size_t{1} << 20;
  void Repeat(const char *what, uint64_t a, uint64_t b) {
    if (repeats_.fetch_add(1) < 5)
      fprintf(stderr, "soak: %s seen twice: %016llx %016llx\n", what, (unsigned long long)a,
              (unsigned long long)b);
  }

  std::mutex mu_;
  Window<uint64_t> words_{21};
  Window<SoakBlock> blocks_{20};
  std::atomic<uint64_t> draws_{0}, repeats_{0}, zeros_{0}, handler_zeros_{0}, handler_draws_{0};
  std::atomic<uint64_t> slots_[kSlots] = {};
  uint64_t drained_ = 0;
};

inline Soak g_soak;

// One thread's batch of what it drew, flushed into g_soak every few thousand
// entries and when the thread ends.
class Recorder {
 public:
  ~Recorder() { Flush(); }

  // `n` bytes at `p` (8-aligned): n / unit draws of `unit` bytes each, or one
  // draw of n bytes when unit is 0 (sampled: its first 64 and last 16 bytes
  // go to the window). `draws` overrides the count.
  void Record(const uint8_t *p, size_t n, size_t unit = 0, uint64_t draws = 0) {
    if (unit == 0) unit = n;
    draws_ += draws != 0 ? draws : n / unit;
    if (unit == 4) return Pair(p, n);
    for (size_t i = 0; i + 8 <= n; i += 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (w == 0) g_soak.Zero(unit == 8 ? "8-byte draw" : "larger draw");
      if (unit == 8 && w != 0) words_.push_back(w);
    }
    if (unit >= 16)
      for (size_t d = 0; d + unit <= n; d += unit) Sample(p + d, unit);
    if (words_.size() + blocks_.size() >= 4096) Flush();
  }

  void Flush() {
    g_soak.Add(words_, blocks_, draws_);
    words_.clear();
    blocks_.clear();
    draws_ = 0;
  }

 private:
  void Block(const uint8_t *p) {
    SoakBlock b;
    memcpy(b.data(), p, 16);
    if (!(b == SoakBlock{})) blocks_.push_back(b);
  }
  void Sample(const uint8_t *p, size_t n) {
    if (n == 16) return Block(p);
    for (size_t i = 0; i < 64 && i + 16 <= n; i += 16) Block(p + i);
    if (n >= 80) Block(p + n - 16);
  }
  // Two 4-byte draws make a word: zero only if both are (2^-64 by chance).
  void Pair(const uint8_t *p, size_t n) {
    for (size_t i = 0; i + 4 <= n; i += 4) {
      uint32_t v;
      memcpy(&v, p + i, 4);
      if (!have_half_) {
        half_ = v;
        have_half_ = true;
        continue;
      }
      have_half_ = false;
      const uint64_t w = (static_cast<uint64_t>(v) << 32) | half_;
      if (w == 0)
        g_soak.Zero("two 4-byte draws");
      else
        words_.push_back(w);
    }
  }

  std::vector<uint64_t> words_;
  std::vector<SoakBlock> blocks_;
  uint64_t draws_ = 0;
  uint32_t half_ = 0;
  bool have_half_ = false;
};

}  // namespace grndpool::test
