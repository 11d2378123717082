// SPDX-License-Identifier: Apache-2.0
// grndpool-cat: writes random bytes from grndpool to stdout, like `openssl rand`
// or `head -c N /dev/urandom`. With --threads N, N threads draw into a ring of
// chunks and the main thread writes the chunks in order, so the output is one
// stream whatever N is. The library options (--strategy, --refill, ...) are
// generated from the one table in lib/options.cc: each row GRNDPOOL_FOO_BAR is
// the flag --foo-bar, validated by the same parser as the environment variable.
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/options.h"

namespace {

constexpr size_t kChunkBytes = 64 * 1024;
constexpr unsigned kMaxThreads = 256;
constexpr int kUsageError = 2;

const char kUsage[] =
    "usage: grndpool-cat [-n BYTES] [-t N] [LIBRARY OPTIONS] [--describe] [--help]\n"
    "Writes cryptographically secure random bytes from grndpool to stdout.\n\n"
    "  -n, --bytes=BYTES  write BYTES bytes (a decimal number; suffix K, M or G:\n"
    "                     units of 1024, 1024^2, 1024^3); without it, write until\n"
    "                     stdout is closed, which is refused when stdout is a terminal\n"
    "  -t, --threads=N    draw from N threads (1..256, default 1); the output is\n"
    "                     written in order, one stream whatever N is\n"
    "      --describe     print the pool's one-line description and exit\n"
    "  -h, --help         this text\n\n"
    "A value follows its option as the next argument, or attached: -n8, --bytes=8.\n"
    "A long option may be shortened to any unambiguous prefix. Each option may be\n"
    "given once: a repeat is an error, not a silent override. A closed stdout (EPIPE)\n"
    "ends the program quietly with status 0; a bad argument prints one line and exits\n"
    "with status 2.\n\n";

// The library flag of a table row: GRNDPOOL_SLICE_BYTES -> --slice-bytes.
std::string FlagName(const grndpool::OptionSpec &spec) {
  std::string flag = "--";
  for (const char *p = spec.env_name + std::strlen("GRNDPOOL_"); *p != '\0'; ++p)
    flag += *p == '_' ? '-' : static_cast<char>(*p - 'A' + 'a');
  return flag;
}

// One entry per row: the flag, the row's help (what the setting does), then
// what the flag takes. A flag of a 0|1 variable takes no value and sets it to 1.
std::string LibraryOptionsHelp() {
  std::string text =
      "Library options (each overrides the environment variable it names; see\n"
      "grndpool-env --help):\n";
  char line[512];
  for (size_t i = 0; i < grndpool::kOptionCount; ++i) {
    const grndpool::OptionSpec &s = grndpool::kOptionTable[i];
    const bool is_flag = s.kind == grndpool::OptionKind::kBool;
    const std::string flag = FlagName(s) + (is_flag ? "" : "=VALUE");
    if (is_flag)
      snprintf(line, sizeof line, "  %-26s %s\n  %-26s takes no value; sets %s=1\n", flag.c_str(),
               s.help, "", s.env_name);
    else
      snprintf(line, sizeof line, "  %-26s %s\n  %-26s accepted: %s; default: %s; sets %s\n",
               flag.c_str(), s.help, "", s.accepted, s.default_text, s.env_name);
    text += line;
  }
  return text;
}

[[noreturn]] void UsageError(const std::string &line) {
  std::fprintf(stderr, "grndpool-cat: %s\n", line.c_str());
  std::exit(kUsageError);
}

// Validation goes through the library's own parser: it reads only the one variable
// we hand it, and any complaint means the value is bad.
const char *g_check_name = nullptr;
const char *g_check_value = nullptr;
bool g_check_failed = false;
const char *CheckGetenv(const char *name) {
  return std::strcmp(name, g_check_name) == 0 ? g_check_value : nullptr;
}
void CheckSink(const char *) {
  g_check_failed = true;
}

void SetLibraryOption(const grndpool::OptionSpec &spec, const char *value) {
  g_check_name = spec.env_name;
  g_check_value = value;
  g_check_failed = false;
  grndpool::ParseOptions(CheckGetenv, CheckSink);
  if (g_check_failed)
    UsageError(FlagName(spec) + ": bad value \"" + value + "\"; accepted: " + spec.accepted);
  setenv(spec.env_name, value, 1);
}

// Parses a byte count with an optional K, M or G suffix (binary units).
bool ParseByteCount(const char *text, uint64_t *out) {
  if (*text < '0' || *text > '9') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0) return false;
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift != 0) ++end;
  if (*end != '\0' || value > (UINT64_MAX >> shift)) return false;
  *out = static_cast<uint64_t>(value) << shift;
  return true;
}

struct Args {
  bool bounded = false;
  uint64_t bytes = 0;
  unsigned threads = 1;
  bool describe = false;
};

// getopt_long's values for the options without a short form; a table row i
// is kLibraryOption + i.
constexpr int kDescribe = 256;
constexpr int kLibraryOption = 512;

// The option as named in messages: its short form when it has one.
std::string OptionName(int value) {
  switch (value) {
    case 'n':
      return "-n/--bytes";
    case 't':
      return "-t/--threads";
    case 'h':
      return "--help";
    case kDescribe:
      return "--describe";
    default:
      return FlagName(grndpool::kOptionTable[value - kLibraryOption]);
  }
}

Args ParseArgs(int argc, char **argv) {
  // The long options: ours, then one per table row (the names must outlive
  // getopt_long, hence the vector reserved up front).
  std::vector<std::string> library_names;
  library_names.reserve(grndpool::kOptionCount);
  std::vector<option> longopts = {{"bytes", required_argument, nullptr, 'n'},
                                  {"threads", required_argument, nullptr, 't'},
                                  {"describe", no_argument, nullptr, kDescribe},
                                  {"help", no_argument, nullptr, 'h'}};
  for (size_t i = 0; i < grndpool::kOptionCount; ++i) {
    const grndpool::OptionSpec &spec = grndpool::kOptionTable[i];
    library_names.push_back(FlagName(spec).substr(2));
    longopts.push_back({library_names.back().c_str(),
                        spec.kind == grndpool::OptionKind::kBool ? no_argument : required_argument,
                        nullptr, kLibraryOption + static_cast<int>(i)});
  }
  longopts.push_back({nullptr, 0, nullptr, 0});

  Args args;
  std::map<int, std::string> given;  // option -> its value, to refuse a repeat
  opterr = 0;                        // every message is ours, one line each
  for (;;) {
    const int c = getopt_long(argc, argv, ":n:t:h", longopts.data(), nullptr);
    if (c == -1) break;
    if (c == '?') {
      // optopt: a long option given a value it does not take (its value, or
      // 'h' for --help=...), an unknown short option, or 0 for an unknown or
      // ambiguous long one (then the element is argv[optind - 1]).
      if (optopt >= 256 || optopt == 'h')
        UsageError(OptionName(optopt) + " takes no value; see grndpool-cat --help");
      const std::string arg = optopt != 0 ? std::string("-") + static_cast<char>(optopt)
                                          : std::string(argv[optind - 1]);
      UsageError("unknown or ambiguous option \"" + arg + "\"; see grndpool-cat --help");
    }
    if (c == ':') UsageError(OptionName(optopt) + " needs a value; see grndpool-cat --help");
    const std::string value = optarg != nullptr ? optarg : "";
    if (const auto first = given.find(c); first != given.end())
      UsageError(OptionName(c) + " given twice" +
                 (value.empty() ? "" : " (\"" + first->second + "\", then \"" + value + "\")") +
                 "; give each option once");
    given.emplace(c, value);
    switch (c) {
      case 'h':
        std::fputs(kUsage, stdout);
        std::fputs(LibraryOptionsHelp().c_str(), stdout);
        std::exit(0);
      case 'n':
        if (!ParseByteCount(value.c_str(), &args.bytes))
          UsageError("-n/--bytes: bad byte count \"" + value +
                     "\"; accepted: a decimal number with an optional K, M or G suffix");
        args.bounded = true;
        break;
      case 't': {
        char *end = nullptr;
        const unsigned long n = std::strtoul(value.c_str(), &end, 10);
        if (value.empty() || value[0] < '0' || value[0] > '9' || *end != '\0' || n < 1 ||
            n > kMaxThreads)
          UsageError("-t/--threads: bad thread count \"" + value + "\"; accepted: 1.." +
                     std::to_string(kMaxThreads));
        args.threads = static_cast<unsigned>(n);
        break;
      }
      case kDescribe:
        args.describe = true;
        break;
      default: {
        const grndpool::OptionSpec &spec = grndpool::kOptionTable[c - kLibraryOption];
        SetLibraryOption(spec, spec.kind == grndpool::OptionKind::kBool ? "1" : value.c_str());
      }
    }
  }
  if (optind < argc)
    UsageError(std::string("unexpected argument \"") + argv[optind] +
               "\"; grndpool-cat takes options only (see grndpool-cat --help)");
  // Endless binary on a terminal is never what was meant (openssl rand
  // insists on a count); a pipe or a file gets the stream.
  if (!args.bounded && !args.describe && isatty(STDOUT_FILENO))
    UsageError(
        "refusing to write endless random bytes to a terminal; give -n BYTES, or redirect "
        "stdout");
  return args;
}

// Writes all of buf. Returns false when stdout is closed (EPIPE); exits 1 on any
// other write error.
bool WriteAll(const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) return false;
    if (n < 0) {
      std::fprintf(stderr, "grndpool-cat: write to stdout: %s\n", std::strerror(errno));
      std::exit(1);
    }
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

size_t ChunkLen(const Args &args, uint64_t chunk) {
  if (!args.bounded) return kChunkBytes;
  const uint64_t start = chunk * kChunkBytes;
  return start >= args.bytes
             ? 0
             : static_cast<size_t>(std::min<uint64_t>(kChunkBytes, args.bytes - start));
}

int RunOneThread(const Args &args) {
  std::vector<uint8_t> buf(kChunkBytes);
  for (uint64_t chunk = 0;; ++chunk) {
    const size_t len = ChunkLen(args, chunk);
    if (len == 0) return 0;
    grndpool_buf(buf.data(), len);
    const bool open = WriteAll(buf.data(), len);
    std::memset(buf.data(), 0, len);  // written bytes do not linger in the heap
    if (!open) return 0;
  }
}

// Slot s of 2N holds chunks s, s + 2N, ...; worker w fills chunks w, w + N, ...
// `free_for` is the chunk the slot may be filled with next (kStop: give up);
// `filled` is the chunk it holds, ready to write.
constexpr int64_t kStop = INT64_MAX;
struct Slot {
  std::atomic<int64_t> free_for;
  std::atomic<int64_t> filled{-1};
  uint8_t data[kChunkBytes];
};

int RunThreads(const Args &args) {
  const int64_t n = args.threads;
  const int64_t slot_count = 2 * n;
  std::unique_ptr<Slot[]> slots(new Slot[slot_count]);
  for (int64_t s = 0; s < slot_count; ++s) slots[s].free_for.store(s);

  std::vector<std::thread> workers;
  for (int64_t w = 0; w < n; ++w) {
    workers.emplace_back([&, w] {
      for (int64_t chunk = w;; chunk += n) {
        const size_t len = ChunkLen(args, static_cast<uint64_t>(chunk));
        if (len == 0) return;
        Slot &slot = slots[chunk % slot_count];
        for (int64_t v; (v = slot.free_for.load(std::memory_order_acquire)) != chunk;) {
          if (v == kStop) return;
          slot.free_for.wait(v, std::memory_order_acquire);
        }
        grndpool_buf(slot.data, len);
        slot.filled.store(chunk, std::memory_order_release);
        slot.filled.notify_one();
      }
    });
  }

  for (int64_t chunk = 0;; ++chunk) {
    const size_t len = ChunkLen(args, static_cast<uint64_t>(chunk));
    if (len == 0) break;
    Slot &slot = slots[chunk % slot_count];
    for (int64_t v; (v = slot.filled.load(std::memory_order_acquire)) != chunk;)
      slot.filled.wait(v, std::memory_order_acquire);
    const bool open = WriteAll(slot.data, len);
    // The bytes were written (or can never be): wipe them before the slot is reused.
    std::memset(slot.data, 0, len);
    if (!open) {
      for (int64_t s = 0; s < slot_count; ++s) {
        slots[s].free_for.store(kStop, std::memory_order_release);
        slots[s].free_for.notify_all();
      }
      break;
    }
    slot.free_for.store(chunk + slot_count, std::memory_order_release);
    slot.free_for.notify_all();
  }
  for (std::thread &t : workers) t.join();
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  // A closed pipe must surface as EPIPE from write(2), which ends the run quietly.
  signal(SIGPIPE, SIG_IGN);
  const Args args = ParseArgs(argc, argv);
  if (args.describe) {
    std::printf("%s\n", grndpool_describe());
    return 0;
  }
  return args.threads == 1 ? RunOneThread(args) : RunThreads(args);
}
