// SPDX-License-Identifier: Apache-2.0
#include "lib/options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace grndpool {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;

// Index of each row; kOptionTable below must list them in this order.
enum OptionIndex {
  kStrategyOpt,
  kSourceOpt,
  kRefillOpt,
  kSlabOpt,
  kSliceOpt,
  kRekeyOpt,
  kStatsOpt
};

}  // namespace

const OptionSpec kOptionTable[] = {
    {"GRNDPOOL_STRATEGY", OptionKind::kChoice, "slab", "slab|syscall|vdso|per-thread|shared|mutex",
     0, 0, "How draws share buffered bytes between threads."},
    {"GRNDPOOL_SOURCE", OptionKind::kChoice, "auto", "auto|grnd_timestamp|vdso|syscall", 0, 0,
     "Kernel path: auto picks grnd_timestamp, then vdso, then syscall."},
    {"GRNDPOOL_REFILL", OptionKind::kChoice, "chacha20", "chacha20|direct", 0, 0,
     "chacha20: fast-key-erasure keystream keyed from the kernel; direct: kernel bytes."},
    {"GRNDPOOL_SLAB_BYTES", OptionKind::kSize, "2M", "8K..64M (K and M suffixes)", 8 * KiB,
     64 * MiB, "Cap on the process-wide locked slab, mapped only as threads arrive."},
    {"GRNDPOOL_SLICE_BYTES", OptionKind::kSize, "1K", "256..64K, a power of two", 256, 64 * KiB,
     "Bytes of slab a thread owns (64 of them are the slice header)."},
    {"GRNDPOOL_REKEY_BYTES", OptionKind::kSize, "1M", "4K..1024M (K and M suffixes)", 4 * KiB,
     1024 * MiB, "Keystream bytes after which a chacha20 chain is rekeyed from the kernel."},
    {"GRNDPOOL_STATS", OptionKind::kBool, "0", "0|1", 0, 1,
     "1 prints the counters to stderr at exit."},
};
const size_t kOptionCount = sizeof(kOptionTable) / sizeof(kOptionTable[0]);

bool ParseSize(const char *text, uint64_t *out) {
  if (text == nullptr || *text < '0' || *text > '9') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0) return false;
  uint64_t scale = 1;
  if (*end == 'K' || *end == 'k') {
    scale = KiB;
    ++end;
  } else if (*end == 'M' || *end == 'm') {
    scale = MiB;
    ++end;
  }
  if (*end != '\0') return false;
  if (value > UINT64_MAX / scale) return false;
  *out = value * scale;
  return true;
}

namespace {

// Returns the position of `value` in the '|' separated `accepted` list, or -1.
int ChoiceIndex(const char *accepted, const char *value) {
  size_t value_len = strlen(value);
  int index = 0;
  for (const char *p = accepted;; ++index) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? static_cast<size_t>(bar - p) : strlen(p);
    if (len == value_len && strncmp(p, value, len) == 0) return index;
    if (!bar) return -1;
    p = bar + 1;
  }
}

// The value as it can be shown on one line: printable ASCII as is, quotes and
// backslashes escaped, anything else (a newline, a control byte) as \xNN; at
// most 64 bytes of the value are shown.
std::string Printable(const char *value) {
  std::string out;
  size_t i = 0;
  for (; value[i] != '\0' && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (value[i] != '\0') out += "...";
  return out;
}

void Complain(OptionErrorSink sink, const OptionSpec &spec, const char *value, const char *why) {
  char line[512];
  snprintf(line, sizeof line, "grndpool: ignoring %s=\"%s\": %saccepted %s; using default %s",
           spec.env_name, Printable(value).c_str(), why, spec.accepted, spec.default_text);
  sink(line);
}

}  // namespace

Options ParseOptions(const char *(*getenv_fn)(const char *), OptionErrorSink sink) {
  Options opts;
  for (size_t i = 0; i < kOptionCount; ++i) {
    const OptionSpec &spec = kOptionTable[i];
    const char *value = getenv_fn(spec.env_name);
    if (value == nullptr) continue;
    bool ok = false;
    if (spec.kind == OptionKind::kChoice) {
      int choice = ChoiceIndex(spec.accepted, value);
      ok = choice >= 0;
      if (ok && i == kStrategyOpt) opts.strategy = static_cast<Strategy>(choice);
      if (ok && i == kSourceOpt) opts.source = static_cast<SourceChoice>(choice);
      if (ok && i == kRefillOpt) opts.refill = static_cast<RefillMode>(choice);
    } else if (spec.kind == OptionKind::kBool) {
      ok = strcmp(value, "0") == 0 || strcmp(value, "1") == 0;
      if (ok) opts.print_stats = value[0] == '1';
    } else {
      uint64_t size = 0;
      ok = ParseSize(value, &size) && size >= spec.min_value && size <= spec.max_value;
      if (ok && i == kSliceOpt) ok = (size & (size - 1)) == 0;
      if (ok && i == kSlabOpt) opts.slab_bytes = size;
      if (ok && i == kSliceOpt) opts.slice_bytes = size;
      if (ok && i == kRekeyOpt) opts.rekey_bytes = size;
    }
    if (!ok) Complain(sink, spec, value, "");
  }
  // The budget must hold one slice, or the first thread would exceed it.
  if (opts.slab_bytes < opts.slice_bytes) {
    const char *value = getenv_fn(kOptionTable[kSlabOpt].env_name);
    char why[160];
    snprintf(why, sizeof why, "smaller than one slice (GRNDPOOL_SLICE_BYTES=%zu); ",
             opts.slice_bytes);
    Complain(sink, kOptionTable[kSlabOpt], value != nullptr ? value : "", why);
    opts.slab_bytes = Options{}.slab_bytes;
  }
  return opts;
}

std::string OptionsHelpText() {
  std::string text = "Environment variables read once, at the first draw:\n";
  char line[512];
  for (size_t i = 0; i < kOptionCount; ++i) {
    const OptionSpec &s = kOptionTable[i];
    snprintf(line, sizeof line, "  %-22s %s\n  %-22s accepted: %s; default: %s\n", s.env_name,
             s.help, "", s.accepted, s.default_text);
    text += line;
  }
  return text;
}

std::string OptionsMarkdown() {
  std::string text = "| variable | accepted | default | meaning |\n|---|---|---|---|\n";
  for (size_t i = 0; i < kOptionCount; ++i) {
    const OptionSpec &s = kOptionTable[i];
    std::string accepted = s.accepted;
    for (size_t p = 0; (p = accepted.find('|', p)) != std::string::npos; p += 2)
      accepted.replace(p, 1, "\\|");
    text += std::string("| `") + s.env_name + "` | " + accepted + " | `" + s.default_text + "` | " +
            s.help + " |\n";
  }
  return text;
}

const char *StrategyName(Strategy s) {
  static const char *const names[] = {"slab", "syscall", "vdso", "per-thread", "shared", "mutex"};
  return names[static_cast<int>(s)];
}

const char *SourceName(SourceChoice s) {
  static const char *const names[] = {"auto", "grnd_timestamp", "vdso", "syscall"};
  return names[static_cast<int>(s)];
}

const char *RefillName(RefillMode r) {
  return r == RefillMode::kChacha20 ? "chacha20" : "direct";
}

}  // namespace grndpool
