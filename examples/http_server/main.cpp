// SPDX-License-Identifier: MIT
// http_server: a static-file HTTP/1.1 server on coring (keep-alive, pipelining, ETag, Range, gzip).
//
//   http_server --root DIR [--port N] [--bind ADDR] [--threads N] [--gzip] [--access-log] ...
//
// main() makes the signal set (before the runtime, so that every thread blocks SIGINT/SIGTERM),
// the runtime (--threads io loops, one CPU worker for hashing and gzip), the listener, and runs
// one task: it accepts connections and spawns each with rt.io_balanced() (the least loaded io
// loop) until a signal comes. Then it stops accepting, lets every connection finish the requests
// it has received (server::stop()), waits for them for at most --grace-ms, and exits 0.
// Prints "listening on ADDR:PORT" first on stdout (--port 0 picks a free port).
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "file_cache.hpp"
#include "server.hpp"

namespace {

using namespace std::chrono_literals;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

constexpr const char* usage =
    "usage: http_server --root DIR [options]\n"
    "  --root DIR              directory to serve (required)\n"
    "  --port N                TCP port, 0 picks a free one (default 8080)\n"
    "  --bind ADDR             address to listen on (default 127.0.0.1)\n"
    "  --threads N             io threads (default 1)\n"
    "  --gzip                  gzip compressible files for clients that accept it\n"
    "  --access-log            one line per request on stderr\n"
    "  --max-connections N     connections beyond N get 503 (default 1024)\n"
    "  --idle-timeout-ms N     close a connection idle between requests (default 10000)\n"
    "  --header-timeout-ms N   close a connection whose request head takes longer (default 5000)\n"
    "  --max-body N            largest request body in bytes, else 413 (default 1048576)\n"
    "  --grace-ms N            on SIGINT/SIGTERM, wait this long for requests in flight (default 5000)\n"
    "  --help                  this text\n";

struct options {
  std::string root;
  long port = 8080;
  std::string bind = "127.0.0.1";
  long threads = 1;
  long grace_ms = 5000;
  server_options server;
};

[[noreturn]] void bad_usage(const char* why, const char* arg) {
  std::fprintf(stderr, "http_server: %s%s%s\n%s", why, arg ? ": " : "", arg ? arg : "", usage);
  std::exit(2);
}

long number(const char* text, long min, long max, const char* option) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) bad_usage("bad value for", option);
  return v;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (arg == "--gzip") {
      o.server.gzip = true;
      continue;
    }
    if (arg == "--access-log") {
      o.server.access_log = true;
      continue;
    }
    if (i + 1 >= argc) bad_usage("unknown option or missing value", argv[i]);
    const char* value = argv[++i];
    if (arg == "--root") {
      o.root = value;
    } else if (arg == "--port") {
      o.port = number(value, 0, 65535, argv[i - 1]);
    } else if (arg == "--bind") {
      o.bind = value;
    } else if (arg == "--threads") {
      o.threads = number(value, 1, 256, argv[i - 1]);
    } else if (arg == "--max-connections") {
      o.server.max_connections = static_cast<std::size_t>(number(value, 1, 1 << 20, argv[i - 1]));
    } else if (arg == "--idle-timeout-ms") {
      o.server.idle_timeout = std::chrono::milliseconds(number(value, 1, 86400000, argv[i - 1]));
    } else if (arg == "--header-timeout-ms") {
      o.server.header_timeout = std::chrono::milliseconds(number(value, 1, 86400000, argv[i - 1]));
    } else if (arg == "--max-body") {
      o.server.limits.max_body = static_cast<std::uint64_t>(number(value, 0, 1L << 40, argv[i - 1]));
    } else if (arg == "--grace-ms") {
      o.grace_ms = number(value, 0, 3600000, argv[i - 1]);
    } else {
      bad_usage("unknown option", argv[i - 1]);
    }
  }
  if (o.root.empty()) bad_usage("--root is required", nullptr);
  struct stat st {};
  if (::stat(o.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) bad_usage("not a directory", o.root.c_str());
  return o;
}

/// Errors that end one accept, not the server (see examples/echo_server.cpp).
bool transient(std::error_code e) {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::not_enough_memory || e == std::errc::no_buffer_space ||
         e == std::errc::connection_aborted;
}

coring::task<void> accept_connections(tcp_listener& listener, server& srv, coring::executor connections) {
  auto incoming = listener.incoming();
  for (;;) {
    coring::result<tcp_stream> s = co_await incoming.next();
    if (!s) {
      if (!transient(s.error())) co_return;  // canceled by the stop, or the listener failed
      (void)co_await coring::sleep_for(10ms);
      continue;
    }
    if (srv.try_admit()) {
      coring::spawn_detached(connections, serve_connection(srv, std::move(*s)));
    } else {
      coring::spawn_detached(connections, refuse_connection(std::move(*s)));
    }
  }
}

coring::task<int> run(coring::runtime& rt, tcp_listener& listener, server& srv, coring::signal_set& signals,
                      std::chrono::milliseconds grace) {
  // Serve until a signal comes (when_any then cancels the accept loop and waits for it).
  auto first = co_await coring::when_any(accept_connections(listener, srv, rt.io_balanced()), signals.wait());
  if (first.index == 0) {
    std::fprintf(stderr, "http_server: the listener failed\n");
    co_return 1;
  }
  const coring::result<int> signo = std::get<1>(first.value);
  std::fprintf(stderr, "http_server: SIG%s: stopping\n", signo ? ::sigabbrev_np(*signo) : "?");
  srv.stop();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (srv.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    (void)co_await coring::sleep_for(10ms);
  }
  if (srv.open_connections() > 0) {
    std::fprintf(stderr, "http_server: %zu connections still open after the grace period\n",
                 srv.open_connections());
  }
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  coring::signal_set signals{SIGINT, SIGTERM};  // before the runtime: its threads inherit the mask
  coring::runtime rt{{.io_threads = static_cast<unsigned>(opt.threads), .cpu_threads = 1}};

  const std::string address = opt.bind.find(':') != std::string::npos ? "[" + opt.bind + "]" : opt.bind;
  const auto local = endpoint::parse(address + ":" + std::to_string(opt.port));
  if (!local) {
    std::fprintf(stderr, "http_server: bad --bind address: %s\n", opt.bind.c_str());
    return 2;
  }
  auto listener = tcp_listener::bind(*local, coring::net::listen_options{.no_delay = true});
  if (!listener) {
    std::fprintf(stderr, "http_server: bind %s: %s\n", local->to_string().c_str(),
                 listener.error().message().c_str());
    return 1;
  }
  std::optional<file_cache> files;
  try {
    files.emplace(opt.root, rt.cpu(), file_cache_options{.gzip = opt.server.gzip});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server: %s\n", e.what());
    return 1;
  }
  server srv(opt.server, *files);
  std::printf("listening on %s\n", listener->local_endpoint().value().to_string().c_str());
  std::fflush(stdout);
  const int rc = rt.block_on(run(rt, *listener, srv, signals, std::chrono::milliseconds(opt.grace_ms)));
  rt.shutdown();  // connections past the grace period end here, while `srv` and `files` live
  return rc;
}
