// SPDX-License-Identifier: Apache-2.0
// dlopen()s the library (this program is not linked with it), draws on a thread,
// dlclose()s it, then lets the thread exit, which runs the destructor the
// library registered. Exit 0 when the process survives.
//
//   dlclose_probe PATH-TO-libgrndpool.so
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dlclose_probe LIB\n");
    return 2;
  }
  void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    fprintf(stderr, "dlclose_probe: %s\n", dlerror());
    return 1;
  }
  auto u32 = reinterpret_cast<uint32_t (*)()>(dlsym(handle, "grndpool_u32"));
  if (u32 == nullptr) return 1;
  std::atomic<int> step{0};
  std::thread t([&] {
    (void)u32();
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  dlclose(handle);
  step = 2;
  t.join();
  // A second open after the close still works.
  handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  u32 =
      handle != nullptr ? reinterpret_cast<uint32_t (*)()>(dlsym(handle, "grndpool_u32")) : nullptr;
  std::thread([&] { (void)u32(); }).join();
  return u32 != nullptr ? 0 : 1;
}
