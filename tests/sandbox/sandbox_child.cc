// SPDX-License-Identifier: Apache-2.0
// The library under a seccomp filter installed inside a running process
// (after the dynamic loader, so even open(2) can be refused), before the
// first draw:
//
//   sandbox_child [filter options (filter.h)] -- EXPECT...
//
// then draws from three threads and a forked child across many refills, and
// checks that no word repeats or is zero, and that grndpool_describe() and
// the counters say what is in force. Each EXPECT word names a state the
// library must report; every state not named must be absent, so the case
// without a filter is the control of every other case. `fatal`: the first
// draw must stop the process with status 127 and its one-line message (no
// getrandom and no /dev/urandom: no safe byte to return). Exit 0: pass.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "tests/stats_util.h"
#include "tests/sandbox/filter.h"

namespace {

bool g_ok = true;
void Check(bool cond, const std::string &what) {
  if (!cond) printf("FAIL: %s\n", what.c_str());
  g_ok = g_ok && cond;
}

void Draw(std::vector<uint64_t> *out, size_t words) {
  for (size_t i = 0; i < words; ++i) out->push_back(grndpool_u64());
  uint64_t big[512];
  grndpool_buf(big, sizeof big);
  out->insert(out->end(), big, big + 512);
}

using grndpool::test::Stats;

// A state the library reports: its words in describe, and the counter that backs it.
struct State {
  const char *word;
  bool (*shows)(const std::string &describe, const struct grndpool_stats &s);
};
const State kStates[] = {
    {"urandom",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("fallback=/dev/urandom") != std::string::npos && s.urandom_fallbacks > 0;
     }},
    {"generation-unknown",
     [](const std::string &d, const struct grndpool_stats &s) {
       return (d.find("unreadable") != std::string::npos ||
               d.find("generation unknown") != std::string::npos) &&
              s.generation_unknown > 0;
     }},
    {"kernel-only",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("kernel-only=(no working MADV_WIPEONFORK)") != std::string::npos &&
              s.kernel_draws > 0;
     }},
    {"droppable",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("locked=no (MAP_DROPPABLE") != std::string::npos && s.droppable_bytes > 0 &&
              s.mlock_failures > 0;
     }},
    {"unlocked",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("locked=no (unlocked, left out of core dumps)") != std::string::npos &&
              s.mlock_failures > 0;
     }},
    {"locked",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("locked=yes") != std::string::npos && s.locked_bytes > 0;
     }},
    // memfd_create refused: no page for grndpool-env --stats, and nothing else changes.
    {"no-stats-page",
     [](const std::string &d, const struct grndpool_stats &s) {
       return d.find("stats-page=unavailable (") != std::string::npos && s.refills > 0;
     }},
};

int Fatal() {
  int err[2];
  if (pipe(err) != 0) return 2;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    (void)grndpool_u32();
    _exit(0);  // reached only if the draw found randomness somewhere
  }
  close(err[1]);
  char text[512] = "";
  const ssize_t got = read(err[0], text, sizeof text - 1);
  text[got > 0 ? got : 0] = '\0';
  int st = 0;
  waitpid(pid, &st, 0);
  printf("child exit %d, stderr: %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1, text);
  Check(WIFEXITED(st) && WEXITSTATUS(st) == 127, "the draw did not stop the process with 127");
  Check(strstr(text, "no kernel randomness") != nullptr, "no one-line message on stderr");
  return g_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  const int first = SandboxApply(argc, argv);
  if (first < 0) return 2;
  std::vector<std::string> expect(argv + first, argv + argc);
  for (const std::string &w : expect) {
    const bool known = w == "fatal" || w == "none" ||
                       std::any_of(std::begin(kStates), std::end(kStates),
                                   [&](const State &s) { return w == s.word; });
    if (!known) {
      fprintf(stderr, "sandbox_child: unknown expectation '%s'\n", w.c_str());
      return 2;
    }
  }
  if (std::find(expect.begin(), expect.end(), "fatal") != expect.end()) return Fatal();

  std::vector<uint64_t> words;
  for (int round = 0; round < 2; ++round) {
    std::vector<uint64_t> a, b;
    std::thread ta([&] { Draw(&a, 2000); }), tb([&] { Draw(&b, 2000); });
    Draw(&words, 2000);
    ta.join();
    tb.join();
    words.insert(words.end(), a.begin(), a.end());
    words.insert(words.end(), b.begin(), b.end());
  }
  // A child under the same filter: its words go to the parent through a pipe.
  int fds[2];
  if (pipe(fds) != 0) return 2;
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<uint64_t> mine;
    Draw(&mine, 2000);
    const size_t bytes = mine.size() * sizeof mine[0];
    _exit(write(fds[1], mine.data(), bytes) == static_cast<ssize_t>(bytes) ? 0 : 1);
  }
  close(fds[1]);
  Draw(&words, 2000);
  uint64_t w;
  size_t from_child = 0;
  while (read(fds[0], &w, sizeof w) == sizeof w) {
    words.push_back(w);
    ++from_child;
  }
  int st = 0;
  waitpid(pid, &st, 0);
  Check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && from_child == 2512, "the forked child's draws");

  const struct grndpool_stats s = Stats();
  const std::string describe = grndpool_describe();
  const size_t zeros = static_cast<size_t>(std::count(words.begin(), words.end(), 0u));
  std::sort(words.begin(), words.end());
  const bool repeats = std::adjacent_find(words.begin(), words.end()) != words.end();
  printf("%zu words (%zu from a child), %zu zero, repeats=%d, refills=%llu\n%s\n", words.size(),
         from_child, zeros, repeats, static_cast<unsigned long long>(s.refills), describe.c_str());
  Check(zeros == 0, "a draw returned an all-zero word");
  Check(!repeats, "a word was served twice");
  for (const State &state : kStates) {
    const bool want = std::find(expect.begin(), expect.end(), state.word) != expect.end();
    const bool shown = state.shows(describe, s);
    printf("%-20s expected=%d shown=%d\n", state.word, want, shown);
    Check(want == shown,
          std::string(want ? "not reported: " : "reported but not expected: ") + state.word);
  }
  printf("%s\n", g_ok ? "PASS" : "FAIL");
  return g_ok ? 0 : 1;
}
