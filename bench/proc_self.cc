// SPDX-License-Identifier: Apache-2.0
#include "proc_self.h"

#include <cstdio>

namespace grndpool_bench {

double LoadAverage() {
  double load = -1;
  if (FILE *f = fopen("/proc/loadavg", "r")) {
    if (fscanf(f, "%lf", &load) != 1) load = -1;
    fclose(f);
  }
  return load;
}

long VmLckKib() {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "VmLck: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

}  // namespace grndpool_bench
