// SPDX-License-Identifier: Apache-2.0
#include "lib/options.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace grndpool {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;

bool StoreStrategy(Options *o, uint64_t v) {
  o->strategy = static_cast<Strategy>(v);
  return true;
}
bool StoreSource(Options *o, uint64_t v) {
  o->source = static_cast<SourceChoice>(v);
  return true;
}
bool StoreRefill(Options *o, uint64_t v) {
  o->refill = static_cast<RefillMode>(v);
  return true;
}
bool StoreSlab(Options *o, uint64_t v) {
  o->slab_bytes = v;
  return true;
}
bool StoreSlice(Options *o, uint64_t v) {
  o->slice_bytes = v;
  return (v & (v - 1)) == 0;  // a power of two
}
bool StoreHotSlice(Options *o, uint64_t v) {
  o->hot_slice_bytes = v;
  return v == 0 || (v >= 4 * KiB && (v & (v - 1)) == 0);
}
bool StoreRekey(Options *o, uint64_t v) {
  o->rekey_bytes = v;
  return true;
}
bool StoreChacha20After(Options *o, uint64_t v) {
  o->chacha20_after = v;
  return true;
}
bool StoreStats(Options *o, uint64_t v) {
  o->print_stats = v != 0;
  return true;
}

}  // namespace

// The order of the choice names is the order of the enums in options.h.
const OptionSpec kOptionTable[] = {
    {"GRNDPOOL_STRATEGY", OptionKind::kChoice, "slab",
     "slab|syscall|vdso|per-thread|shared|mutex|per-cpu", 0, 0,
     "How draws share buffered bytes between threads.", StoreStrategy},
    {"GRNDPOOL_SOURCE", OptionKind::kChoice, "auto", "auto|grnd_timestamp|vdso|syscall", 0, 0,
     "Kernel path: auto picks grnd_timestamp, then vdso, then syscall.", StoreSource},
    {"GRNDPOOL_REFILL", OptionKind::kChoice, "chacha20", "chacha20|direct", 0, 0,
     "chacha20: fast-key-erasure keystream keyed from the kernel; direct: kernel bytes.",
     StoreRefill},
    {"GRNDPOOL_SLAB_BYTES", OptionKind::kSize, "2M", "8K..64M (K and M suffixes)", 8 * KiB,
     64 * MiB,
     "Cap on the process-wide locked slab, mapped only as threads arrive (on x86_64 up to an "
     "eighth of it is the per-CPU reservoir small slices refill from).",
     StoreSlab},
    {"GRNDPOOL_SLICE_BYTES", OptionKind::kSize, "1K", "256..64K, a power of two", 256, 64 * KiB,
     "Bytes of slab a thread owns at most (64 of them are the slice header); new slices are "
     "this, a half or a quarter of it (at least 256), by how many threads wait for one and the "
     "budget left: a pool of 4096 threads gets 512 and 256 B slices within 2 MiB.",
     StoreSlice},
    {"GRNDPOOL_HOT_SLICE_BYTES", OptionKind::kSize, "16K",
     "0 (off) or 4K..256K, a power of two above GRNDPOOL_SLICE_BYTES", 0, 256 * KiB,
     "Slice a thread moves to once it refills often (up to half of the slab, mapped "
     "while a quarter of it is left, given back when threads find no slice); "
     "bounds a busy thread's reseed window instead of GRNDPOOL_SLICE_BYTES.",
     StoreHotSlice},
    {"GRNDPOOL_REKEY_BYTES", OptionKind::kSize, "1M", "4K..1024M (K and M suffixes)", 4 * KiB,
     1024 * MiB,
     "Most chacha20 keystream bytes from one kernel key (every refill takes a new one; "
     "larger refills and draws are cut into pieces).",
     StoreRekey},
    {"GRNDPOOL_CHACHA20_AFTER", OptionKind::kSize, "256K", "0..1024M (K and M suffixes)", 0,
     1024 * MiB,
     "chacha20 refill: bytes filled straight from the kernel before libcrypto is started "
     "(its start-up costs about 0.2 ms of CPU and allocates, once); 0 starts it with the "
     "first draw.",
     StoreChacha20After},
    {"GRNDPOOL_STATS", OptionKind::kBool, "0", "0|1", 0, 1,
     "Prints the counters to stderr at exit, one line: grndpool stats: pid=N name=value ...",
     StoreStats},
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

// Parses `text` for `spec` and stores it; false when it is not accepted.
bool ParseInto(const OptionSpec &spec, const char *text, Options *opts) {
  uint64_t value = 0;
  switch (spec.kind) {
    case OptionKind::kChoice: {
      const int choice = ChoiceIndex(spec.accepted, text);
      if (choice < 0) return false;
      value = static_cast<uint64_t>(choice);
      break;
    }
    case OptionKind::kBool:
      if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) return false;
      value = text[0] == '1';
      break;
    case OptionKind::kSize:
      if (!ParseSize(text, &value) || value < spec.min_value || value > spec.max_value)
        return false;
      break;
  }
  return spec.store(opts, value);
}

const OptionSpec &Row(bool (*store)(Options *, uint64_t)) {
  for (const OptionSpec &spec : kOptionTable)
    if (spec.store == store) return spec;
  return kOptionTable[0];  // unreachable: every store function has its row
}

// The name of choice `index` in a row's '|' separated list.
const char *ChoiceName(const OptionSpec &spec, int index) {
  static thread_local char name[32];
  const char *p = spec.accepted;
  for (int i = 0; i < index && p != nullptr; ++i) {
    p = strchr(p, '|');
    if (p != nullptr) ++p;
  }
  if (p == nullptr) return "?";
  const char *bar = strchr(p, '|');
  const size_t len = bar != nullptr ? static_cast<size_t>(bar - p) : strlen(p);
  snprintf(name, sizeof name, "%.*s", static_cast<int>(len), p);
  return name;
}

void Complain(OptionErrorSink sink, const OptionSpec &spec, const char *value, const char *why) {
  char line[512];
  snprintf(line, sizeof line, "grndpool: ignoring %s=\"%s\": %saccepted %s; using default %s",
           spec.env_name, PrintableValue(value).c_str(), why, spec.accepted, spec.default_text);
  sink(line);
}

}  // namespace

Options DefaultOptions() {
  Options opts{};
  for (const OptionSpec &spec : kOptionTable) (void)ParseInto(spec, spec.default_text, &opts);
  return opts;
}

Options ParseOptions(const char *(*getenv_fn)(const char *), OptionErrorSink sink) {
  Options opts = DefaultOptions();
  for (const OptionSpec &spec : kOptionTable) {
    const char *value = getenv_fn(spec.env_name);
    if (value == nullptr) continue;
    Options parsed = opts;
    if (ParseInto(spec, value, &parsed))
      opts = parsed;
    else
      Complain(sink, spec, value, "");
  }
  // The budget must hold one slice, or the first thread would exceed it.
  if (opts.slab_bytes < opts.slice_bytes) {
    const OptionSpec &slab = Row(StoreSlab);
    const char *value = getenv_fn(slab.env_name);
    char why[160];
    snprintf(why, sizeof why, "smaller than one slice (GRNDPOOL_SLICE_BYTES=%zu); ",
             opts.slice_bytes);
    Complain(sink, slab, value != nullptr ? value : "", why);
    opts.slab_bytes = DefaultOptions().slab_bytes;
  }
  // A hot slice no bigger than a slice would be no hot slice at all.
  if (opts.hot_slice_bytes != 0 && opts.hot_slice_bytes <= opts.slice_bytes) {
    const OptionSpec &hot = Row(StoreHotSlice);
    if (const char *value = getenv_fn(hot.env_name)) {
      char line[512];
      snprintf(line, sizeof line,
               "grndpool: ignoring %s=\"%s\": not above GRNDPOOL_SLICE_BYTES=%zu; accepted %s; "
               "hot slices off",
               hot.env_name, PrintableValue(value).c_str(), opts.slice_bytes, hot.accepted);
      sink(line);
    }
    opts.hot_slice_bytes = 0;
  }
  return opts;
}

const OptionSpec *FindOption(const char *name) {
  for (const OptionSpec &spec : kOptionTable)
    if (strcmp(spec.env_name, name) == 0) return &spec;
  return nullptr;
}

std::string PrintableValue(const char *value) {
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

// Choice names, copied out of the table once per process into storage with no
// destructor: a thread may still ask while another runs exit().
template <int kCount>
struct ChoiceNames {
  char names[kCount][24];
  explicit ChoiceNames(const OptionSpec &spec) {
    for (int i = 0; i < kCount; ++i) snprintf(names[i], sizeof names[i], "%s", ChoiceName(spec, i));
  }
};

const char *StrategyName(Strategy s) {
  static const ChoiceNames<7> names(Row(StoreStrategy));
  return names.names[static_cast<int>(s)];
}

const char *SourceName(SourceChoice s) {
  static const ChoiceNames<4> names(Row(StoreSource));
  return names.names[static_cast<int>(s)];
}

const char *RefillName(RefillMode r) {
  static const ChoiceNames<2> names(Row(StoreRefill));
  return names.names[static_cast<int>(r)];
}

}  // namespace grndpool
