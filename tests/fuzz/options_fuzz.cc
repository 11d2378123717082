// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for lib/options: the input is split at newlines into one
// value per variable of the table. Whatever the values, parsing never crashes,
// the options in force are within what the table accepts, and every complaint
// is one printable line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lib/options.h"

namespace {

std::vector<std::string> g_values;
int g_lines = 0;

const char *Lookup(const char *name) {
  for (size_t i = 0; i < grndpool::kOptionCount && i < g_values.size(); ++i)
    if (strcmp(grndpool::kOptionTable[i].env_name, name) == 0) return g_values[i].c_str();
  return nullptr;
}

// How many choices the table's row for `name` accepts ('|'-separated names),
// so the check follows the table (it said 6 strategies after the seventh
// was added, and the fuzzer reported per-cpu as out of range).
size_t Choices(const char *name) {
  for (size_t i = 0; i < grndpool::kOptionCount; ++i) {
    const grndpool::OptionSpec &row = grndpool::kOptionTable[i];
    if (strcmp(row.env_name, name) != 0) continue;
    size_t n = 1;
    for (const char *p = row.accepted; *p != '\0'; ++p) n += *p == '|';
    return n;
  }
  return 0;
}

void Check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "options_fuzz: %s\n", what);
    abort();
  }
}

void Sink(const char *line) {
  ++g_lines;
  const size_t len = strlen(line);
  Check(len > 0 && len < 512, "complaint length");
  for (size_t i = 0; i < len; ++i)
    Check(line[i] >= 0x20 && line[i] < 0x7f, "complaint has an unprintable byte");
  Check(strncmp(line, "grndpool: ignoring GRNDPOOL_", 28) == 0, "complaint names no variable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  g_values.clear();
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      g_values.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));  // may hold NUL: C strings end there
    }
  }
  g_values.push_back(current);
  g_lines = 0;
  const grndpool::Options o = grndpool::ParseOptions(Lookup, Sink);
  Check(g_lines <= static_cast<int>(grndpool::kOptionCount) + 1, "too many complaints");
  Check(o.slice_bytes >= 256 && o.slice_bytes <= 64 * 1024, "slice out of range");
  Check((o.slice_bytes & (o.slice_bytes - 1)) == 0, "slice not a power of two");
  Check(o.slab_bytes >= 8 * 1024 && o.slab_bytes <= 64 * 1024 * 1024, "slab out of range");
  Check(o.slab_bytes >= o.slice_bytes, "slab smaller than a slice");
  Check(o.rekey_bytes >= 4 * 1024 && o.rekey_bytes <= 1024ull * 1024 * 1024, "rekey out of range");
  Check(static_cast<size_t>(o.strategy) < Choices("GRNDPOOL_STRATEGY") &&
            static_cast<size_t>(o.source) < Choices("GRNDPOOL_SOURCE") &&
            static_cast<size_t>(o.refill) < Choices("GRNDPOOL_REFILL"),
        "choice out of range");
  return 0;
}
