// SPDX-License-Identifier: Apache-2.0
// libbsd's arc4random_buf has the same symbol name as glibc's (2.36+), so
// linking -lbsd would silently bind one of the two. dlopen + dlsym on the
// libbsd handle resolves libbsd's own definition.
#include <dlfcn.h>

#include "peers.h"

namespace grndpool_bench {

DrawFn LoadLibbsdArc4randomBuf(std::string *why) {
  void *handle = dlopen("libbsd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *err = dlerror();
    *why = std::string("dlopen(libbsd.so.0) failed: ") + (err ? err : "unknown error");
    return nullptr;
  }
  dlerror();
  void *sym = dlsym(handle, "arc4random_buf");
  if (sym == nullptr) {
    *why = "libbsd.so.0 has no arc4random_buf";
    dlclose(handle);
    return nullptr;
  }
  // Kept open for the life of the process: the benchmark calls it until exit.
  return reinterpret_cast<DrawFn>(sym);
}

}  // namespace grndpool_bench
