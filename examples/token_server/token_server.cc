// SPDX-License-Identifier: Apache-2.0
// token_server: an HTTP/1.1 server on 127.0.0.1 whose worker threads hand out
// 128-bit session tokens, hex encoded, from a selectable source, so the same
// server can be loaded with each source in turn (load.sh drives it with wrk).
//
//   token_server [--port P] [--threads N] [--max-threads M] [--keep-alive-max R]
//                [--source grndpool|getrandom|arc4random]
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
//
// A pool thread serves one connection for as long as it stays open, so slow
// or silent clients can hold every thread of a fixed pool. Here a connection
// that finds the N pool threads busy gets a thread of its own (up to M), a
// silent or stalled connection is dropped after kTimeoutSeconds, a connection
// ends after R requests, and a request with a body (this server takes none)
// or a malformed Content-Length is answered 400 at once.
#include <grndpool/grndpool.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// How long a connection may stay silent (before a request, or inside one)
// and a response may wait for the client to read, in seconds.
constexpr time_t kTimeoutSeconds = 2;

// cpp-httplib's task queue, elastic: `min` threads wait for connections; one
// that finds them all busy starts a thread of its own, up to `max` in all,
// which ends once no connection is waiting. Past `max`, connections wait.
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t min, size_t max) : max_(max) {
    for (size_t i = 0; i < min; ++i) Start(nullptr, /*stays=*/true);
  }
  ~ElasticPool() override { ElasticPool::shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    // A waiting thread not yet promised to a queued connection takes it.
    if (idle_ > queue_.size() || threads_ >= max_) {
      queue_.push_back(std::move(fn));
      wake_.notify_one();
      return;
    }
    lock.unlock();
    Start(std::move(fn), /*stays=*/false);
  }

  // Called once the server stops accepting: runs what is queued, then waits
  // for every thread to end.
  void shutdown() override {
    std::unique_lock lock(mu_);
    stopping_ = true;
    wake_.notify_all();
    ended_.wait(lock, [this] { return threads_ == 0; });
  }

 private:
  void Start(std::function<void()> first, bool stays) {
    {
      std::lock_guard lock(mu_);
      ++threads_;
    }
    std::thread([this, first = std::move(first), stays]() mutable {
      if (first) first();
      Serve(stays);
    }).detach();
  }

  void Serve(bool stays) {
    std::unique_lock lock(mu_);
    for (;;) {
      if (queue_.empty() && (stopping_ || !stays)) break;
      if (queue_.empty()) {
        ++idle_;
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        --idle_;
        continue;
      }
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
    --threads_;
    ended_.notify_all();
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable wake_, ended_;
  std::deque<std::function<void()>> queue_;
  size_t threads_ = 0;
  size_t idle_ = 0;
  bool stopping_ = false;
};

// What is wrong with the request's body headers, or "" when it has no body.
// A malformed Content-Length cannot be read past; a well-formed one would
// make the server wait for a body no route takes.
std::string BodyProblem(const httplib::Request &req) {
  const size_t lengths = req.get_header_value_count("Content-Length");
  if (lengths > 1) return "more than one Content-Length";
  if (lengths == 1) {
    const std::string value = req.get_header_value("Content-Length");
    if (value.empty() || value.size() > 19 ||
        value.find_first_not_of("0123456789") != std::string::npos)
      return "bad Content-Length \"" + value.substr(0, 32) + "\"; accepted: decimal digits";
    if (value.find_first_not_of('0') != std::string::npos)
      return "a request body (Content-Length " + value + "); this server takes none";
  }
  if (req.has_header("Transfer-Encoding"))
    return "a request body (Transfer-Encoding); this server takes none";
  return "";
}

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
               "usage: token_server [--port P] [--threads N] [--max-threads M] "
               "[--keep-alive-max R] [--source grndpool|getrandom|arc4random] | --cost\n",
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
  size_t max_threads = 1024;
  size_t keep_alive_max = 1000;
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
    } else if (arg == "--max-threads") {
      max_threads = static_cast<size_t>(NumberArg("--max-threads", value, 1, 4096));
    } else if (arg == "--keep-alive-max") {
      keep_alive_max = static_cast<size_t>(NumberArg("--keep-alive-max", value, 1, 1000000));
    } else if (arg == "--source") {
      source = nullptr;
      for (const Source &s : kSources)
        if (std::strcmp(s.name, value) == 0) source = &s;
      if (source == nullptr) Usage(std::string("--source: unknown source \"") + value + "\"");
    } else {
      Usage("unknown argument: " + arg);
    }
  }

  if (max_threads < threads) Usage("--max-threads must be at least --threads");
  httplib::Server server;
  // One pool thread serves one keep-alive connection at a time: the pool keeps
  // `threads` and grows to `max_threads` rather than queue a connection
  // behind slow ones.
  server.new_task_queue = [threads, max_threads] { return new ElasticPool(threads, max_threads); };
  // A keep-alive connection serves up to keep_alive_max requests (the load
  // measures token requests rather than TCP handshakes), waits at most
  // kTimeoutSeconds for the next one, and a request or a response that stalls
  // that long ends the connection.
  server.set_keep_alive_max_count(keep_alive_max);
  server.set_keep_alive_timeout(kTimeoutSeconds);
  server.set_read_timeout(kTimeoutSeconds, 0);
  server.set_write_timeout(kTimeoutSeconds, 0);
  server.set_payload_max_length(0);
  // Before the body is read: answer a body or a bad Content-Length at once,
  // and close, since what follows on the connection cannot be parsed.
  server.set_pre_routing_handler([](const httplib::Request &req, httplib::Response &res) {
    const std::string problem = BodyProblem(req);
    if (problem.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 400;
    res.set_header("Connection", "close");
    res.set_content(problem + "\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
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
  std::printf("listening on %s:%d source=%s threads=%zu..%zu keep-alive-max=%zu\n", host, port,
              source->name, threads, max_threads, keep_alive_max);
  std::fflush(stdout);
  return server.listen_after_bind() ? 0 : 1;
}
