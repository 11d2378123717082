// SPDX-License-Identifier: Apache-2.0
// Living beside other code, each case in a process of its own, through the
// public API only (so the same source also runs against older builds):
//
//   edge_probe urcu             draws inside the application's own liburcu-bp
//                               read-side sections, and urcu_bp fork hooks
//                               called by the application around fork()
//   edge_probe tsd-destructor   draws from a later pthread key destructor
//                               must not leak slices
//   edge_probe no-keys          every pthread key in use before the first draw
//
// Exit status 0: the guarantee held; 1: it broke (a line on stderr says how).
#include <urcu-bp.h>

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/probe_util.h"

namespace grndpool::test {
namespace {

// Defect 5: draws inside the application's own read-side sections, with enough
// threads to make the slice directory grow several times, and the application
// calling liburcu's fork hooks itself.
int Urcu() {
  alarm(60);  // a hang is the failure: SIGALRM ends the process
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::atomic<int> drawn{0};
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&] {
      rcu_read_lock();
      (void)grndpool_u32();
      rcu_read_unlock();
      drawn.fetch_add(1);
      while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (drawn.load() <= i) std::this_thread::yield();
  }
  rcu_read_lock();
  (void)grndpool_u64();
  rcu_read_unlock();
  done = true;
  for (auto &t : threads) t.join();
  urcu_bp_before_fork();
  const pid_t pid = fork();
  if (pid == 0) {
    urcu_bp_after_fork_child();
    _exit(grndpool_u64() != 0 ? 0 : 1);
  }
  urcu_bp_after_fork_parent();
  return WaitStatus(pid) == 0 ? 0 : Fail("the child of an urcu-bp fork failed");
}

// Defect 6c: a pthread key destructor that runs after the library's draws.
pthread_key_t g_app_key;
void AppDestructor(void *) {
  (void)grndpool_u32();
}

int TsdDestructor() {
  (void)grndpool_u32();  // the library's key is created first, so it runs first
  if (pthread_key_create(&g_app_key, AppDestructor) != 0) return Fail("pthread_key_create");
  constexpr int kThreads = 3000;  // more than the default budget's 2044 slices
  for (int i = 0; i < kThreads; i += 50) {
    std::vector<std::thread> batch;
    for (int k = 0; k < 50; ++k)
      batch.emplace_back([] {
        (void)grndpool_u32();
        pthread_setspecific(g_app_key, reinterpret_cast<void *>(1));
      });
    for (auto &t : batch) t.join();
  }
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
  grndpool_get_stats(&s);
  fprintf(stderr, "edge_probe: slices in use after %d exits: %llu\n", kThreads,
          static_cast<unsigned long long>(s.slices_in_use));
  return s.slices_in_use <= 2 ? 0 : Fail("slices claimed in destructors were never released");
}

// Defect 9: no pthread key left for the library.
int NoKeys() {
  std::vector<pthread_key_t> keys;
  pthread_key_t k;
  while (pthread_key_create(&k, nullptr) == 0) keys.push_back(k);
  for (size_t i = 0; i < keys.size(); ++i)
    pthread_setspecific(keys[i], reinterpret_cast<void *>(i + 1));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([] {
      uint8_t buf[3000];
      for (int j = 0; j < 100; ++j) grndpool_buf(buf, sizeof buf);
    });
  for (auto &t : threads) t.join();
  std::vector<uint64_t> words(2000);
  for (auto &w : words) w = grndpool_u64();
  for (size_t i = 0; i < keys.size(); ++i)
    if (pthread_getspecific(keys[i]) != reinterpret_cast<void *>(i + 1))
      return Fail("the library wrote another library's pthread key");
  const std::string line = grndpool_describe();
  fprintf(stderr, "edge_probe: %s\n", line.c_str());
  if (line.find("kernel-only") == std::string::npos)
    return Fail("describe does not say draws are kernel-only");
  return UniqueNonzero(words) ? 0 : Fail("zero or repeated word");
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  g_probe_name = "edge_probe";
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "urcu") return Urcu();
  if (cmd == "tsd-destructor") return TsdDestructor();
  if (cmd == "no-keys") return NoKeys();
  fprintf(stderr, "usage: edge_probe urcu | tsd-destructor | no-keys\n");
  return 2;
}
