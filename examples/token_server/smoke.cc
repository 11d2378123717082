// SPDX-License-Identifier: Apache-2.0
// Smoke test of token_server: starts it on a free loopback port, fetches 10,000
// tokens over 4 keep-alive connections, and fails unless every response is 200
// with 32 hex digits, all 10,000 tokens are distinct, and an unknown path is 404.
//
//   token_server_smoke PATH/TO/token_server SOURCE
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

constexpr int kClients = 4;
constexpr int kTokensPerClient = 2500;

pid_t g_server = -1;

[[noreturn]] void Fail(const std::string &why) {
  std::fprintf(stderr, "FAIL: %s\n", why.c_str());
  if (g_server > 0) kill(g_server, SIGKILL);
  std::exit(1);
}

// Starts the server and returns the port from its "listening on HOST:PORT" line.
int StartServer(const char *path, const char *source) {
  int fds[2];
  if (pipe(fds) != 0) Fail("pipe");
  g_server = fork();
  if (g_server < 0) Fail("fork");
  if (g_server == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(path, path, "--source", source, "--threads", "8", static_cast<char *>(nullptr));
    std::perror("exec token_server");
    _exit(127);
  }
  close(fds[1]);
  FILE *out = fdopen(fds[0], "r");
  char line[256] = {};
  if (out == nullptr || std::fgets(line, sizeof line, out) == nullptr)
    Fail("token_server printed nothing");
  std::fputs(line, stdout);
  int port = 0;
  if (std::sscanf(line, "listening on 127.0.0.1:%d", &port) != 1) Fail("unexpected first line");
  return port;
}

bool IsToken(const std::string &body) {
  if (body.size() != 33 || body[32] != '\n') return false;
  for (size_t i = 0; i < 32; ++i)
    if (!((body[i] >= '0' && body[i] <= '9') || (body[i] >= 'a' && body[i] <= 'f'))) return false;
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PATH/TO/token_server SOURCE\n", argv[0]);
    return 2;
  }
  const int port = StartServer(argv[1], argv[2]);

  std::mutex mu;
  std::unordered_set<std::string> tokens;
  std::vector<std::string> errors;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      std::vector<std::string> mine;
      mine.reserve(kTokensPerClient);
      for (int i = 0; i < kTokensPerClient; ++i) {
        httplib::Result res = client.Get("/token");
        if (!res || res->status != 200 || !IsToken(res->body)) {
          std::lock_guard lock(mu);
          errors.push_back(res ? "status " + std::to_string(res->status) + " body \"" + res->body +
                                     "\""
                               : "request failed: " + httplib::to_string(res.error()));
          return;
        }
        mine.push_back(res->body);
      }
      std::lock_guard lock(mu);
      tokens.insert(mine.begin(), mine.end());
    });
  }
  for (std::thread &t : clients) t.join();
  if (!errors.empty()) Fail(errors.front());
  const size_t want = static_cast<size_t>(kClients) * kTokensPerClient;
  if (tokens.size() != want)
    Fail(std::to_string(tokens.size()) + " distinct tokens of " + std::to_string(want));

  httplib::Client client("127.0.0.1", port);
  httplib::Result res = client.Get("/nope");
  if (!res || res->status != 404) Fail("GET /nope did not answer 404");

  kill(g_server, SIGTERM);
  waitpid(g_server, nullptr, 0);
  std::printf("ok: %zu distinct tokens from %d connections, /nope -> 404\n", tokens.size(),
              kClients);
  return 0;
}
