// SPDX-License-Identifier: Apache-2.0
#include "lib/describe.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "lib/fork.h"
#include "lib/hot_slices.h"
#include "lib/kernel/syscall.h"
#include "lib/refill.h"
#include "lib/runtime.h"
#include "lib/stats.h"
#include "lib/stats_page.h"
#include "lib/strategies/registry.h"

namespace grndpool {
namespace {

uint64_t Load(const std::atomic<uint64_t> &counter) {
  return counter.load(std::memory_order_relaxed);
}

const char *GenerationName(kernel::GenerationMode mode) {
  switch (mode) {
    case kernel::GenerationMode::kPerDraw:
      return "per-draw";
    case kernel::GenerationMode::kPerRefill:
      return "per-refill";
    case kernel::GenerationMode::kUnknown:
      break;
  }
  return "unknown";
}

// The reseed window in force, in words.
const char *Window(kernel::GenerationMode mode) {
  switch (mode) {
    case kernel::GenerationMode::kPerDraw:
      return "0 bytes once the kernel has reseeded (GRND_TIMESTAMP checked every draw; a "
             "cloned VM repeats until its kernel handles the clone)";
    case kernel::GenerationMode::kPerRefill: {
      const uint64_t unknown = Load(g_counters.generation_unknown);
      if (unknown == 0)
        return "<= 1 slice per thread, no time bound (generation read at every refill)";
      return unknown >= Load(g_counters.refills)
                 ? "<= 1 slice per thread, no time bound (generation unreadable at every "
                   "refill: each took a fresh kernel key)"
                 : "<= 1 slice per thread, no time bound (generation unreadable at some "
                   "refills: those took a fresh kernel key)";
    }
    case kernel::GenerationMode::kUnknown:
      break;
  }
  return "<= 1 slice per thread, no time bound (generation unknown: every refill takes a "
         "fresh kernel key)";
}

const char *Locked(uint64_t locked, uint64_t droppable, uint64_t mapped) {
  if (mapped == 0) return "not-yet";
  if (locked == mapped) return "yes";
  if (droppable == mapped) return "no (MAP_DROPPABLE: never swapped)";
  if (locked + droppable == mapped) return "partly (the rest MAP_DROPPABLE)";
  if (locked == 0 && droppable == 0) return "no (unlocked, left out of core dumps)";
  return "partly (the rest unlocked, left out of core dumps)";
}

// "16384B", "off", or "16384B(no-new:mlock-failed)".
std::string HotSlices(size_t bytes) {
  if (bytes == 0) return "off";
  return std::to_string(bytes) + "B" + (HotSlicesMayGrow() ? "" : "(no-new:mlock-failed)");
}

// The kernel calls that served fills so far ("vdso", "vdso+syscall", ...).
std::string FilledBy(uint64_t vdso, uint64_t syscall, uint64_t urandom) {
  std::string out;
  for (const auto &[name, n] :
       {std::pair{"vdso", vdso}, {"syscall", syscall}, {"urandom", urandom}})
    if (n > 0) out += (out.empty() ? "" : "+") + std::string(name);
  return out.empty() ? "none" : out;
}

const char *KernelOnly() {
  if (!HaveThreadKey()) return "(no pthread key left)";
  if (!fork::CanaryWorks()) return "(no working MADV_WIPEONFORK)";
  return nullptr;
}

}  // namespace

std::vector<DescribeField> DescribeFields(const char *not_started) {
  using F = DescribeField;
  std::vector<F> f;
  const auto text = [&f](const char *key, std::string value) {
    f.push_back({key, F::kText, std::move(value), 0});
  };
  const auto number = [&f](const char *key, F::Kind kind, uint64_t value) {
    f.push_back({key, kind, "", static_cast<long long>(value)});
  };
  if (not_started != nullptr) {
    text("kernel-only", not_started);
    number("pid", F::kCount, static_cast<uint64_t>(getpid()));
    return f;
  }
  const Process &p = CurrentProcess();
  const Options &o = p.options;
  text("strategy", StrategyName(o.strategy));
  text("source", SourceDescription());
  const uint64_t vdso = Load(g_counters.vdso_fills), syscall = Load(g_counters.syscall_fills),
                 urandom = Load(kernel::g_urandom_fills);
  text("refill", RefillName(o.refill));
  number("slab", F::kBytes, o.slab_bytes);
  number("slice", F::kBytes, o.slice_bytes);
  text("hot-slice", HotSlices(p.geometry.hot_slice_bytes));
  // The per-CPU reservoir's share of the slab budget: "102400B" in use,
  // "102400B(not-yet)", "102400B(unused:not-locked)", or "off".
  const std::string reservoir_status = ReservoirStatus();
  text("reservoir", reservoir_status == "off"
                        ? reservoir_status
                        : std::to_string(p.geometry.reservoir_bytes) + "B" +
                              (reservoir_status == "in-use" ? "" : "(" + reservoir_status + ")"));
  number("rekey", F::kBytes, o.rekey_bytes);
  text("keystream", o.refill == RefillMode::kDirect ? "off" : KeystreamStatus());
  number("chacha20-after", F::kBytes, o.chacha20_after);
  // The test double's fills are not counted: it is named instead. Neither
  // are the unbuffered strategies' (a shared counter per draw would be most
  // of their cost): they say so.
  const bool unbuffered = o.strategy == Strategy::kSyscall || o.strategy == Strategy::kVdso;
  text("filled-by", SourceIsTestDouble() ? std::string(p.kernel->name)
                    : unbuffered && vdso + syscall + urandom == 0
                        ? std::string("not-counted (strategy ") + StrategyName(o.strategy) +
                              " draws straight from the kernel)"
                        : FilledBy(vdso, syscall, urandom));
  number("vdso-fills", F::kCount, vdso);
  number("syscall-fills", F::kCount, syscall);
  number("urandom-fills", F::kCount, urandom);
  text("generation", GenerationName(p.kernel->mode));
  text("window", Window(p.kernel->mode));
  const uint64_t locked = Load(g_counters.locked_bytes);
  const uint64_t droppable = Load(g_counters.droppable_bytes);
  const uint64_t mapped = Load(g_counters.slab_bytes);
  // The other strategies keep their buffers outside the slab (not counted here).
  text("locked", o.strategy != Strategy::kSlab && mapped == 0
                     ? std::string("no-slab (strategy ") + StrategyName(o.strategy) + ")"
                     : std::string(Locked(locked, droppable, mapped)));
  number("locked-bytes", F::kBytes, locked);
  number("mapped-bytes", F::kBytes, mapped);
  struct rlimit limit {};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  if (limit.rlim_cur == RLIM_INFINITY)
    text("memlock-limit", "unlimited");
  else
    number("memlock-limit", F::kBytes, limit.rlim_cur);
  // Present only when in force.
  if (const char *why = KernelOnly()) text("kernel-only", why);
  if (Load(g_counters.mmap_failures) > 0) text("mmap-failures", "(some draws went to the kernel)");
  if (urandom > 0) text("fallback", "/dev/urandom (getrandom failed or was denied)");
  text("stats-page", StatsPageStatus());
  number("pid", F::kCount, static_cast<uint64_t>(getpid()));
  return f;
}

std::string DescribeLine(const std::vector<DescribeField> &fields) {
  std::string line = "grndpool";
  for (const DescribeField &f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    if (f.kind == DescribeField::kText)
      line += f.text;
    else
      line += std::to_string(f.number) + (f.kind == DescribeField::kBytes ? "B" : "");
  }
  return line;
}

std::string DescribeJson(const std::vector<DescribeField> &fields) {
  std::string json = "{";
  for (const DescribeField &f : fields) {
    if (json.size() > 1) json += ", ";
    json += '"';
    for (const char *k = f.key; *k != '\0'; ++k) json += *k == '-' ? '_' : *k;
    json += "\": ";
    if (f.kind != DescribeField::kText) {
      json += std::to_string(f.number);
      continue;
    }
    json += '"';
    for (const char c : f.text) {
      if (c == '"' || c == '\\') {
        json += '\\';
        json += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escape[8];
        snprintf(escape, sizeof escape, "\\u%04x", c);
        json += escape;
      } else {
        json += c;
      }
    }
    json += '"';
  }
  return json + "}";
}

}  // namespace grndpool
