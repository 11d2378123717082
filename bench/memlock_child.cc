// SPDX-License-Identifier: Apache-2.0
#include "memlock_child.h"

#include <linux/capability.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <vector>

#include "grndpool/grndpool.h"
#include "proc_self.h"

#include "lib/strategies/registry.h"

namespace grndpool_bench {
namespace {

constexpr unsigned kChildTimeoutSeconds = 120;

// All threads draw once, then park here until the main thread has read the
// counters; the main thread waits for exactly the threads that started, so a
// failed pthread_create cannot deadlock it (unlike a fixed-count barrier).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int drawn = 0;
  bool release = false;
};

struct ThreadArgs {
  Gate *gate;
  void (*draw)(void *, size_t);
};

void *DrawOnceAndWait(void *p) {
  auto *args = static_cast<ThreadArgs *>(p);
  uint32_t v;
  args->draw(&v, sizeof v);
  __asm__ volatile("" : : "r"(v));
  std::unique_lock<std::mutex> lock(args->gate->mu);
  ++args->gate->drawn;
  args->gate->cv.notify_all();
  args->gate->cv.wait(lock, [&] { return args->gate->release; });
  return nullptr;
}

// StrategyFor by name; the parent also set GRNDPOOL_STRATEGY, so the library's
// process-wide set-up is the one that strategy gets in production.
void (*DrawFor(const std::string &name))(void *, size_t) {
  for (grndpool::Strategy s : grndpool::kAllStrategies)
    if (name == grndpool::StrategyName(s)) return grndpool::StrategyFor(s).draw;
  return nullptr;
}

// Root (CAP_IPC_LOCK) may lock past RLIMIT_MEMLOCK; a server usually runs
// without it. Dropping it makes the limit apply, as for that server.
bool DropIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

int Child(const std::string &strategy, int threads, bool keep_ipc_lock) {
  alarm(kChildTimeoutSeconds);  // a wedged child must not stall the whole run
  if (!keep_ipc_lock && !DropIpcLock()) {
    perror("memlock_wall: capset (dropping CAP_IPC_LOCK)");
    return 1;
  }
  grndpool_describe();  // initialise before measuring the baseline
  const long before = VmLckKib();
  void (*draw)(void *, size_t) = DrawFor(strategy);
  if (draw == nullptr) {
    fprintf(stderr, "memlock_wall: unknown strategy '%s'\n", strategy.c_str());
    return 2;
  }

  Gate gate;
  ThreadArgs args{&gate, draw};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStackBytes);
  std::vector<pthread_t> ids;
  ids.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pthread_t id;
    if (pthread_create(&id, &attr, DrawOnceAndWait, &args) != 0) break;
    ids.push_back(id);
  }
  pthread_attr_destroy(&attr);
  const int started = static_cast<int>(ids.size());
  {
    std::unique_lock<std::mutex> lock(gate.mu);
    gate.cv.wait(lock, [&] { return gate.drawn == started; });
  }
  const long vmlck = VmLckKib();
  struct grndpool_stats st = {};  // zeroed: a size field of 0 asks for all
  grndpool_get_stats(&st);
  {
    std::lock_guard<std::mutex> lock(gate.mu);
    gate.release = true;
  }
  gate.cv.notify_all();
  for (pthread_t id : ids) pthread_join(id, nullptr);
  printf("%s,%d,%d,%ld,%ld,%llu,%llu,%llu,%llu\n", strategy.c_str(), threads, started, before,
         vmlck, static_cast<unsigned long long>(st.locked_bytes),
         static_cast<unsigned long long>(st.mlock_failures),
         static_cast<unsigned long long>(st.slab_bytes),
         static_cast<unsigned long long>(st.slices_in_use));
  return 0;
}

}  // namespace grndpool_bench
