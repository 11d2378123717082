// SPDX-License-Identifier: Apache-2.0
// token_server: an HTTP/1.1 server on 127.0.0.1 whose worker threads hand out
// 128-bit session tokens, hex encoded, from a selectable source, so the same
// server can be loaded with each source in turn (load.sh drives it with wrk).
//
//   token_server [--port P] [--threads N] [--source grndpool|getrandom|arc4random]
//   token_server --cost    time 1,000,000 16-byte draws per source (best of 3), exit
//
//   GET /token    200, 32 lowercase hex digits and a newline
//
// It prints "listening on 127.0.0.1:PORT" once bound (--port 0, the default,
// picks a free port) and serves until killed. Built on cpp-httplib (Debian's
// libcpp-httplib-dev): a thread-pool server where each keep-alive connection
// is served by one pool thread, which is the shape grndpool's per-thread slices
// are made for; libmicrohttpd would also do, but its callbacks and its own
// threading modes add code that says nothing about the random source.
#include <grndpool/grndpool.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using FillFn = void (*)(uint8_t *out, size_t len);

void FillGrndpool(uint8_t *out, size_t len) {
  grndpool_buf(out, len);
}

// One getrandom(2) system call per token (glibc 2.36 has no vDSO path).
void FillGetrandom(uint8_t *out, size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(out, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::perror("getrandom");
      std::abort();
    }
    out += n;
    len -= static_cast<size_t>(n);
  }
}

// glibc's own arc4random_buf (new in 2.36).
void FillArc4random(uint8_t *out, size_t len) {
  arc4random_buf(out, len);
}

struct Source {
  const char *name;
  FillFn fill;
};
constexpr Source kSources[] = {
    {"grndpool", FillGrndpool},
    {"getrandom", FillGetrandom},
    {"arc4random", FillArc4random},
};

std::string NewToken(FillFn fill) {
  uint8_t raw[16];
  fill(raw, sizeof raw);
  static const char kHex[] = "0123456789abcdef";
  std::string token(2 * sizeof raw + 1, '\n');
  for (size_t i = 0; i < sizeof raw; ++i) {
    token[2 * i] = kHex[raw[i] >> 4];
    token[2 * i + 1] = kHex[raw[i] & 15];
  }
  std::memset(raw, 0, sizeof raw);
  return token;
}

// Prints the cost of one token's 16 random bytes from each source, so the
// server's figures can be read against it.
void PrintCosts() {
  constexpr int kDraws = 1000000;
  for (const Source &source : kSources) {
    double best_ns = 0;
    for (int round = 0; round < 3; ++round) {
      uint8_t raw[16];
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kDraws; ++i) {
        source.fill(raw, sizeof raw);
        asm volatile("" : : "r"(raw) : "memory");  // keep every draw
      }
      const std::chrono::duration<double, std::nano> took =
          std::chrono::steady_clock::now() - start;
      const double ns = took.count() / kDraws;
      if (round == 0 || ns < best_ns) best_ns = ns;
    }
    std::printf("%-11s %8.1f ns per 16-byte token\n", source.name, best_ns);
  }
}

[[noreturn]] void Usage(const std::string &problem) {
  std::fprintf(stderr,
               "token_server: %s\n"
               "usage: token_server [--port P] [--threads N] "
               "[--source grndpool|getrandom|arc4random] | --cost\n",
               problem.c_str());
  std::exit(2);
}

long NumberArg(const char *flag, const char *text, long lo, long hi) {
  char *end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || *text == '\0' || *end != '\0' || v < lo || v > hi)
    Usage(std::string(flag) + ": bad value \"" + text + "\"; accepted " + std::to_string(lo) +
          ".." + std::to_string(hi));
  return v;
}

}  // namespace

int main(int argc, char **argv) {
  int port = 0;
  size_t threads = 64;
  const Source *source = &kSources[0];
  if (argc == 2 && std::strcmp(argv[1], "--cost") == 0) {
    PrintCosts();
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) Usage("unknown argument or missing value: " + arg);
    const char *value = argv[++i];
    if (arg == "--port") {
      port = static_cast<int>(NumberArg("--port", value, 0, 65535));
    } else if (arg == "--threads") {
      threads = static_cast<size_t>(NumberArg("--threads", value, 1, 1024));
    } else if (arg == "--source") {
      source = nullptr;
      for (const Source &s : kSources)
        if (std::strcmp(s.name, value) == 0) source = &s;
      if (source == nullptr) Usage(std::string("--source: unknown source \"") + value + "\"");
    } else {
      Usage("unknown argument: " + arg);
    }
  }

  httplib::Server server;
  // One pool thread serves one keep-alive connection at a time: size the pool
  // for the client's connection count.
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Let a client keep its connection for the whole run, so the load measures
  // token requests rather than TCP handshakes.
  server.set_keep_alive_max_count(1000000);
  // The response goes out in two writes (headers, body): without TCP_NODELAY,
  // Nagle's algorithm holds the body for the client's delayed ACK (~40 ms).
  server.set_tcp_nodelay(true);
  const FillFn fill = source->fill;
  server.Get("/token", [fill](const httplib::Request &, httplib::Response &res) {
    res.set_content(NewToken(fill), "text/plain");
  });

  const char *host = "127.0.0.1";  // loopback only
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::fprintf(stderr, "token_server: cannot bind %s: %s\n", host, std::strerror(errno));
    return 1;
  }
  std::printf("listening on %s:%d source=%s threads=%zu\n", host, port, source->name, threads);
  std::fflush(stdout);
  return server.listen_after_bind() ? 0 : 1;
}
