// SPDX-License-Identifier: Apache-2.0
// The one table of run-time options. Environment parsing, docs/ENVIRONMENT.md and
// `grndpool-env --help` are all generated from kOptionTable, so they cannot drift.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace grndpool {

enum class Strategy : uint8_t { kSlab, kSyscall, kVdso, kPerThread, kShared, kMutex, kPerCpu };
enum class SourceChoice : uint8_t { kAuto, kGrndTimestamp, kVdso, kSyscall };
enum class RefillMode : uint8_t { kChacha20, kDirect };

// The values in force. Defaults come from the table's default_text, parsed like
// any other value (DefaultOptions()), so they are written once.
struct Options {
  Strategy strategy;
  SourceChoice source;
  RefillMode refill;
  size_t slab_bytes;
  size_t slice_bytes;
  size_t hot_slice_bytes;  // 0: no hot slices
  uint64_t rekey_bytes;
  uint64_t chacha20_after;  // kernel bytes filled before libcrypto starts; 0: at start-up
  bool print_stats;

  friend bool operator==(const Options &, const Options &) = default;
};

enum class OptionKind : uint8_t { kChoice, kSize, kBool };

// One row per variable: its name, how it is parsed, its default, what it
// accepts, its help, and where a parsed value goes. Adding an option is adding
// a row (and its field in Options).
struct OptionSpec {
  const char *env_name;
  OptionKind kind;
  const char *default_text;
  const char *accepted;  // human-readable; for kChoice the '|' separated choice names
  uint64_t min_value;    // kSize and kBool: the range
  uint64_t max_value;
  const char *help;
  // Stores a value that passed the range check (for kChoice: the choice's
  // index). False: the value is out of what the option accepts after all.
  bool (*store)(Options *options, uint64_t value);
};

extern const OptionSpec kOptionTable[];
extern const size_t kOptionCount;

// Reports one bad value; called once per offending variable. The default sink
// writes one line to stderr.
using OptionErrorSink = void (*)(const char *line);

// The options with every variable unset.
Options DefaultOptions();

// Parses the environment through `getenv_fn` (the library passes secure_getenv,
// so a setuid program ignores it; tests pass their own). Each bad value is
// reported through `sink` as one line (the value escaped) and replaced by the
// default; a slab budget smaller than one slice is reported and replaced too.
// Never aborts.
Options ParseOptions(const char *(*getenv_fn)(const char *), OptionErrorSink sink);

// The row of variable `name`, or nullptr when the table has none.
const OptionSpec *FindOption(const char *name);

// A value as it can be shown on one line: printable ASCII as is, quotes and
// backslashes escaped, anything else (a newline, a control byte) as \xNN; at
// most 64 bytes of it, then "...".
std::string PrintableValue(const char *value);

// Parses a size with optional K or M suffix (binary units). Returns false if malformed.
bool ParseSize(const char *text, uint64_t *out);

// Choice names, read from the table rows (written once, there).
const char *StrategyName(Strategy s);
const char *SourceName(SourceChoice s);
const char *RefillName(RefillMode r);

}  // namespace grndpool
