// SPDX-License-Identifier: Apache-2.0
// grndpool-env: documents and checks grndpool's environment variables.
// Everything it prints about options comes from the one table in lib/options.cc.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "grndpool/grndpool.h"
#include "lib/option_text.h"
#include "lib/options.h"
#include "tools/remote_stats.h"

namespace {

const char kUsage[] =
    "usage: grndpool-env [--help | --markdown | --roff | --check | --describe[=json] |\n"
    "                     --stats PID]\n"
    "  --help      this text and the environment variables grndpool reads\n"
    "  --markdown  the variables as a markdown table (docs/ENVIRONMENT.md)\n"
    "  --roff      the variables as man page paragraphs (ENVIRONMENT of grndpool(3))\n"
    "  --check     validate GRNDPOOL_* in the current environment: a bad value or a name\n"
    "              grndpool does not read is one line each, and the exit status 1\n"
    "  --describe  draw once, then print what is in force: options, the kernel path and\n"
    "              the calls that filled, keystream, generation mode, locking, pid\n"
    "  --describe=json\n"
    "              the same fields as one JSON object\n"
    "  --stats PID the counters of running process PID, read from outside it (its\n"
    "              grndpool stats page, through /proc/PID/mem): same user with ptrace\n"
    "              rights, or root\n\n";

int bad_values = 0;

// ParseOptions and ReportUnknownVariables want a plain function pointer, so
// the count lives in a global.
void PrintBadValue(const char *line) {
  std::printf("%s\n", line);
  ++bad_values;
}

const char *Getenv(const char *name) {
  return std::getenv(name);
}

// Text safe inside a man page line: backslashes and hyphens escaped, and a
// leading dot or quote cannot start a request.
std::string Roff(const char *text) {
  std::string out = "\\&";
  for (const char *p = text; *p != '\0'; ++p) {
    if (*p == '\\')
      out += "\\e";
    else if (*p == '-')
      out += "\\-";
    else
      out += *p;
  }
  return out;
}

// One tagged paragraph per row of the options table.
void PrintRoff() {
  for (size_t i = 0; i < grndpool::kOptionCount; ++i) {
    const grndpool::OptionSpec &s = grndpool::kOptionTable[i];
    std::printf(".TP\n.B %s\n%s\n.br\nAccepted: %s; default: %s.\n", s.env_name,
                Roff(s.help).c_str(), Roff(s.accepted).c_str(), Roff(s.default_text).c_str());
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 3 && std::strcmp(argv[1], "--stats") == 0) {
    std::string line, error;
    if (!grndpool::tools::ReadRemoteStats(argv[2], &line, &error)) {
      std::fprintf(stderr, "grndpool-env: --stats: %s\n", error.c_str());
      return 1;
    }
    std::printf("%s\n", line.c_str());
    return 0;
  }
  const char *cmd = argc == 2 ? argv[1] : "";
  if (std::strcmp(cmd, "--help") == 0 || std::strcmp(cmd, "-h") == 0) {
    std::fputs(kUsage, stdout);
    std::fputs(grndpool::OptionsHelpText().c_str(), stdout);
    return 0;
  }
  if (std::strcmp(cmd, "--markdown") == 0) {
    std::fputs(grndpool::OptionsMarkdown().c_str(), stdout);
    return 0;
  }
  if (std::strcmp(cmd, "--roff") == 0) {
    PrintRoff();
    return 0;
  }
  if (std::strcmp(cmd, "--check") == 0) {
    grndpool::ParseOptions(Getenv, PrintBadValue);
    grndpool::ReportUnknownVariables(environ, PrintBadValue);
    return bad_values == 0 ? 0 : 1;
  }
  if (std::strcmp(cmd, "--describe") == 0) {
    std::printf("%s\n", grndpool_describe());
    return 0;
  }
  if (std::strcmp(cmd, "--describe=json") == 0) {
    std::printf("%s\n", grndpool_describe_json());
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 2;
}
