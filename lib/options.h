// SPDX-License-Identifier: Apache-2.0
// The one table of run-time options. Environment parsing, docs/ENVIRONMENT.md and
// `grndpool-env --help` are all generated from kOptionTable, so they cannot drift.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace grndpool {

enum class Strategy : uint8_t { kSlab, kSyscall, kVdso, kPerThread, kShared, kMutex };
enum class SourceChoice : uint8_t { kAuto, kGrndTimestamp, kVdso, kSyscall };
enum class RefillMode : uint8_t { kChacha20, kDirect };

struct Options {
  Strategy strategy = Strategy::kSlab;
  SourceChoice source = SourceChoice::kAuto;
  RefillMode refill = RefillMode::kChacha20;
  size_t slab_bytes = 2 * 1024 * 1024;
  size_t slice_bytes = 1024;
  uint64_t rekey_bytes = 1024 * 1024;
  bool print_stats = false;
};

enum class OptionKind : uint8_t { kChoice, kSize, kBool };

struct OptionSpec {
  const char *env_name;
  OptionKind kind;
  const char *default_text;
  const char *accepted;  // human-readable; for kChoice a '|' separated list
  uint64_t min_value;    // for kSize
  uint64_t max_value;    // for kSize
  const char *help;
};

extern const OptionSpec kOptionTable[];
extern const size_t kOptionCount;

// Reports one bad value; called once per offending variable. The default sink
// writes one line to stderr.
using OptionErrorSink = void (*)(const char *line);

// Parses the environment through `getenv_fn` (the library passes secure_getenv,
// so a setuid program ignores it; tests pass their own). Each bad value is
// reported through `sink` as one line (the value escaped) and replaced by the
// default; a slab budget smaller than one slice is reported and replaced too.
// Never aborts.
Options ParseOptions(const char *(*getenv_fn)(const char *), OptionErrorSink sink);

// Parses a size with optional K or M suffix (binary units). Returns false if malformed.
bool ParseSize(const char *text, uint64_t *out);

// `--help` text and a markdown table, both generated from kOptionTable.
std::string OptionsHelpText();
std::string OptionsMarkdown();

const char *StrategyName(Strategy s);
const char *SourceName(SourceChoice s);
const char *RefillName(RefillMode r);

}  // namespace grndpool
