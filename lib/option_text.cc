// SPDX-License-Identifier: Apache-2.0
#include "lib/option_text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/options.h"

namespace grndpool {
namespace {

// Levenshtein distance: the fewest one-character insertions, deletions and
// substitutions that turn a into b.
size_t EditDistance(const std::string &a, const std::string &b) {
  std::string::size_type n = b.size();
  std::vector<size_t> row(n + 1);
  for (size_t j = 0; j <= n; ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= n; ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[n];
}

}  // namespace

const OptionSpec &NearestOption(const char *name) {
  const size_t len = strlen(name);
  const OptionSpec *best = &kOptionTable[0];
  size_t best_distance = SIZE_MAX;
  for (size_t i = 0; i < kOptionCount; ++i) {
    const OptionSpec &spec = kOptionTable[i];
    // A name the row begins with, up to a '_', is what the user meant.
    if (strncmp(spec.env_name, name, len) == 0 && spec.env_name[len] == '_') return spec;
    const size_t distance = EditDistance(name, spec.env_name);
    if (distance < best_distance) {
      best = &spec;
      best_distance = distance;
    }
  }
  return *best;
}

size_t ReportUnknownVariables(char *const *envp, OptionErrorSink sink) {
  static const char kPrefix[] = "GRNDPOOL_";
  size_t unknown = 0;
  for (char *const *entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    if (strncmp(*entry, kPrefix, sizeof kPrefix - 1) != 0) continue;
    const char *eq = strchr(*entry, '=');
    const std::string name(*entry,
                           eq != nullptr ? static_cast<size_t>(eq - *entry) : strlen(*entry));
    if (FindOption(name.c_str()) != nullptr) continue;
    char line[512];
    snprintf(line, sizeof line,
             "grndpool: unknown variable %s=\"%s\": grndpool does not read it; "
             "nearest known name: %s (grndpool-env --help lists them all)",
             PrintableValue(name.c_str()).c_str(),
             PrintableValue(eq != nullptr ? eq + 1 : "").c_str(),
             NearestOption(name.c_str()).env_name);
    sink(line);
    ++unknown;
  }
  return unknown;
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

}  // namespace grndpool
