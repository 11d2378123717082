// SPDX-License-Identifier: Apache-2.0
#include "u32_scaling.h"

#include <atomic>
#include <thread>

namespace grndpool_bench {
namespace {

using Loop = uint32_t (*)(uint64_t calls);

// A second thread that runs one loop when told to, for the scaling rounds.
// It sleeps in a futex wait between loops, so it takes no core while idle.
class Partner {
 public:
  Partner() : thread_([this] { Run(); }) {}
  ~Partner() {
    Start(nullptr, 0);
    thread_.join();
  }
  // Starts loop(calls) on the partner; Wait() returns when it has finished.
  void Start(Loop loop, uint64_t calls) {
    loop_ = loop;
    calls_ = calls;
    done_.store(false, std::memory_order_relaxed);
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_one();
  }
  void Wait() {
    while (!done_.load(std::memory_order_acquire)) done_.wait(false, std::memory_order_acquire);
  }

 private:
  void Run() {
    uint32_t seen = 0;
    for (;;) {
      go_.wait(seen, std::memory_order_acquire);
      seen = go_.load(std::memory_order_acquire);
      if (loop_ == nullptr) return;
      const uint32_t acc = loop_(calls_);
      __asm__ volatile("" : : "r"(acc));
      done_.store(true, std::memory_order_release);
      done_.notify_one();
    }
  }
  std::atomic<uint32_t> go_{0};
  std::atomic<bool> done_{false};
  Loop loop_ = nullptr;
  uint64_t calls_ = 0;
  std::thread thread_;  // last: starts after the fields above exist
};

// Seconds for two threads to run loop(calls) each, from the start of the first.
double TwoThreads(Partner &partner, Loop loop, uint64_t calls) {
  const double t0 = Seconds();
  partner.Start(loop, calls);
  const uint32_t acc = loop(calls);
  partner.Wait();
  const double s = Seconds() - t0;
  __asm__ volatile("" : : "r"(acc));
  return s;
}

}  // namespace

void MeasureScaling(std::vector<Measured> &sources, const RoundsOptions &o) {
  Partner partner;
  std::vector<Measured *> scaled;
  for (Measured &s : sources) {
    if (!s.in(kScaling)) continue;
    // Sized from the one-thread rate; the warm-up sets up the partner's state.
    s.scaling_calls = std::max<uint64_t>(
        1, static_cast<uint64_t>(s.calls_per_block * o.scaling_block_ms / o.block_ms));
    TwoThreads(partner, s.row->loop, std::max<uint64_t>(1, s.scaling_calls / 10));
    scaled.push_back(&s);
  }
  const size_t n = scaled.size();
  for (int r = 0; r < o.scaling_rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      Measured &s = *scaled[(k + r) % n];
      double one, two;
      auto run_one = [&] { return TimeLoop(s.row->loop, s.scaling_calls); };
      auto run_two = [&] { return TwoThreads(partner, s.row->loop, s.scaling_calls); };
      if (r % 2 == 0) {
        one = Watched(run_one, &s.one_thread_preempted);
        two = Watched(run_two, &s.two_thread_preempted);
      } else {
        two = Watched(run_two, &s.two_thread_preempted);
        one = Watched(run_one, &s.one_thread_preempted);
      }
      s.scaling.push_back(2 * one / two);  // (2 calls / two) / (calls / one)
      const double draws = static_cast<double>(s.scaling_calls) * s.draws_per_call;
      s.one_thread_ns.push_back(one * 1e9 / draws);
      s.two_thread_ns.push_back(two * 1e9 / (2 * draws));
    }
  }
}

}  // namespace grndpool_bench
