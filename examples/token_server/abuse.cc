// SPDX-License-Identifier: Apache-2.0
// What a hostile or broken client can do to token_server (issue 19), one case
// per run, each failing with one line on what went wrong:
//
//   token_server_abuse PATH/TO/token_server bad-length
//       A malformed Content-Length, or any request body, is answered 400 at
//       once (within 1 s of a good request's time, before the server's 2 s
//       timeouts could fire);
//       the server closes the connection by its idle timeout if the client
//       does not.
//   token_server_abuse PATH/TO/token_server slow-clients
//       With 4 pool threads, 8 slow connections (4 silent, 4 sending a
//       request a byte every 200 ms) delay no good request by more than 1 s
//       (against the slowest of 5 good requests alone, timed first), and the
//       server closes the silent ones on its own (idle timeout).
//   token_server_abuse PATH/TO/token_server keep-alive
//       A keep-alive connection is closed after the server's request cap.
//
// Plain sockets, so that a request can be as wrong or as slow as wanted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

pid_t g_server = -1;

[[noreturn]] void Fail(const std::string &why) {
  std::fprintf(stderr, "FAIL: %s\n", why.c_str());
  if (g_server > 0) kill(g_server, SIGKILL);
  std::exit(1);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Starts the server with `args` and returns the port from its first line.
int StartServer(const char *path, const std::vector<std::string> &args) {
  int fds[2];
  if (pipe(fds) != 0) Fail("pipe");
  g_server = fork();
  if (g_server < 0) Fail("fork");
  if (g_server == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char *> argv{const_cast<char *>(path)};
    for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(path, argv.data());
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

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) Fail("connect");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void SendAll(int fd, const std::string &data) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) Fail("send: " + std::string(std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
}

// Reads until the peer closes or `timeout_s` passes. Returns what arrived;
// *closed says whether the peer closed (EOF or reset) in time.
std::string ReadUntilClosed(int fd, double timeout_s, bool *closed) {
  std::string got;
  const Clock::time_point start = Clock::now();
  *closed = false;
  for (;;) {
    const double left = timeout_s - SecondsSince(start);
    if (left <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      return got;
    }
    got.append(buf, static_cast<size_t>(n));
  }
}

// Reads one response's status line and headers (and a body of
// Content-Length bytes); "" on timeout.
std::string ReadResponse(int fd, double timeout_s) {
  std::string got;
  const Clock::time_point start = Clock::now();
  for (;;) {
    const size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t body = 0;
      const size_t cl = got.find("Content-Length: ");
      if (cl != std::string::npos && cl < end)
        body = std::strtoul(got.c_str() + cl + 16, nullptr, 10);
      if (got.size() >= end + 4 + body) return got.substr(0, end + 4 + body);
    }
    const double left = timeout_s - SecondsSince(start);
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    got.append(buf, static_cast<size_t>(n));
  }
}

std::string StatusLine(const std::string &response) {
  return response.substr(0, response.find("\r\n"));
}

// One good request on a new connection: its time, connect included; fails
// on anything but 200.
double GoodRequestSeconds(int port, const std::string &context) {
  const Clock::time_point start = Clock::now();
  const int fd = Connect(port);
  SendAll(fd, "GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const std::string response = ReadResponse(fd, 30.0);
  const double took = SecondsSince(start);
  close(fd);
  if (StatusLine(response) != "HTTP/1.1 200 OK")
    Fail("good request " + context + ": \"" + StatusLine(response) + "\" after " +
         std::to_string(took) + " s");
  return took;
}

// The slowest of 5 good requests with nothing else going on: what this
// machine takes now (a loaded machine or a sanitizer build is slower), so
// that a bound on a delay is not a bound on the machine's speed.
double BaselineSeconds(int port) {
  double slowest = 0;
  for (int i = 0; i < 5; ++i)
    slowest = std::max(slowest, GoodRequestSeconds(port, "alone " + std::to_string(i)));
  return slowest;
}

void BadLength(int port) {
  const char *kCases[][2] = {
      {"GET", "Content-Length: abc\r\n"},
      {"GET", "Content-Length: -1\r\n"},
      {"GET", "Content-Length: 1, 2\r\n"},
      {"GET", "Content-Length: 99999999999999999999999\r\n"},
      {"GET", "Content-Length: 4\r\nContent-Length: 5\r\n"},
      {"GET", "Content-Length: 10\r\n"},  // a body that never comes
      {"POST", "Content-Length: -1\r\n"},
      {"POST", "Content-Length: 1000000\r\n"},
      {"POST", "Transfer-Encoding: chunked\r\n"},
  };
  // One thread per case, so that the idle timeouts run side by side; each
  // times its own answer and close.
  struct Result {
    std::string what, status, error;
    double answered = 0, gone = 0;
  };
  const double baseline = BaselineSeconds(port);
  const double bound = baseline + 1.0;
  std::vector<Result> results(sizeof kCases / sizeof kCases[0]);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      Result &r = results[i];
      std::string shown = kCases[i][1];
      shown.erase(shown.size() - 2);
      for (size_t p; (p = shown.find("\r\n")) != std::string::npos;) shown.replace(p, 2, " + ");
      r.what = std::string(kCases[i][0]) + " with " + shown;
      const int fd = Connect(port);
      const Clock::time_point sent = Clock::now();
      SendAll(fd, std::string(kCases[i][0]) + " /token HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      kCases[i][1] + "\r\n");
      const std::string response = ReadResponse(fd, 3.0);
      r.answered = SecondsSince(sent);
      r.status = StatusLine(response);
      if (response.empty())
        r.error = "no response within 3 s";
      else if (r.status.rfind("HTTP/1.1 400 ", 0) != 0 || r.answered > bound)
        r.error = "\"" + r.status + "\" after " + std::to_string(r.answered) +
                  " s; wanted 400 within 1 s of a good request's " + std::to_string(baseline) +
                  " s";
      else if (response.find("Connection: close\r\n") == std::string::npos)
        r.error = "the 400 does not say Connection: close";
      bool closed = false;
      ReadUntilClosed(fd, 4.0 - SecondsSince(sent), &closed);
      r.gone = SecondsSince(sent);
      if (r.error.empty() && (!closed || r.gone > 3.0))
        r.error = "the server kept the connection " +
                  (closed ? std::to_string(r.gone) + " s" : std::string("over 4 s")) +
                  "; wanted at most 3 s";
      close(fd);
    });
  }
  for (std::thread &t : threads) t.join();
  std::printf("a good request alone: %.3f s at most (of 5)\n", baseline);
  for (const Result &r : results) {
    if (!r.error.empty()) Fail(r.what + ": " + r.error);
    std::printf("ok: %-43s -> %s within %.3f s, closed after %.1f s\n", r.what.c_str(),
                r.status.c_str(), r.answered, r.gone);
  }
}

void SlowClients(int port) {
  constexpr int kSilent = 4, kTrickling = 4;
  const double baseline = BaselineSeconds(port);
  std::vector<int> silent;
  for (int i = 0; i < kSilent; ++i) silent.push_back(Connect(port));
  std::atomic<bool> stop{false};
  std::vector<std::thread> tricklers;
  for (int i = 0; i < kTrickling; ++i) {
    tricklers.emplace_back([port, &stop] {
      const int fd = Connect(port);
      const std::string request =
          "GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(200, 'a') + "\r\n\r\n";
      for (size_t i = 0; i < request.size() && !stop; ++i) {
        if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) break;  // the server may close it
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all accepted and held
  const Clock::time_point slow_start = Clock::now();
  double worst = 0;
  for (int round = 0; round < 5; ++round) {
    const double took =
        GoodRequestSeconds(port, std::to_string(round) + " beside 8 slow connections");
    if (took > baseline + 1.0)
      Fail("good request " + std::to_string(round) +
           " beside 8 slow connections: " + std::to_string(took) + " s, against " +
           std::to_string(baseline) + " s alone; wanted a delay of at most 1 s");
    worst = std::max(worst, took);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  std::printf(
      "ok: 5 good requests beside %d silent and %d trickling connections: slowest %.3f s, "
      "alone %.3f s\n",
      kSilent, kTrickling, worst, baseline);
  // The silent ones were never sent a byte: the server's idle timeout ends them.
  for (int fd : silent) {
    bool closed = false;
    ReadUntilClosed(fd, 10.0 - SecondsSince(slow_start), &closed);
    if (!closed) Fail("a silent connection was still open 10 s after it was made");
    close(fd);
  }
  std::printf("ok: the server closed the %d silent connections after %.1f s\n", kSilent,
              SecondsSince(slow_start));
  stop = true;
  for (std::thread &t : tricklers) t.join();
}

void KeepAlive(int port, int cap) {
  const int fd = Connect(port);
  for (int i = 1; i <= cap; ++i) {
    SendAll(fd, "GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const std::string response = ReadResponse(fd, 3.0);
    if (StatusLine(response) != "HTTP/1.1 200 OK")
      Fail("request " + std::to_string(i) + " on one connection: \"" + StatusLine(response) + "\"");
    const bool last = response.find("Connection: close") != std::string::npos;
    if (last != (i == cap))
      Fail("request " + std::to_string(i) + " of a cap of " + std::to_string(cap) + ": " +
           (last ? "Connection: close too early" : "no Connection: close at the cap"));
  }
  bool closed = false;
  ReadUntilClosed(fd, 3.0, &closed);
  if (!closed) Fail("the connection stayed open after the request cap");
  std::printf("ok: the connection was closed after its %d requests\n", cap);
  close(fd);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PATH/TO/token_server bad-length|slow-clients|keep-alive\n",
                 argv[0]);
    return 2;
  }
  const std::string mode = argv[2];
  constexpr int kKeepAliveCap = 5;
  if (mode == "bad-length") {
    BadLength(StartServer(argv[1], {"--threads", "4"}));
  } else if (mode == "slow-clients") {
    SlowClients(StartServer(argv[1], {"--threads", "4"}));
  } else if (mode == "keep-alive") {
    KeepAlive(
        StartServer(argv[1], {"--threads", "4", "--keep-alive-max", std::to_string(kKeepAliveCap)}),
        kKeepAliveCap);
  } else {
    std::fprintf(stderr, "unknown case %s\n", mode.c_str());
    return 2;
  }
  kill(g_server, SIGTERM);
  waitpid(g_server, nullptr, 0);
  return 0;
}
