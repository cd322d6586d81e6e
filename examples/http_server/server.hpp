// SPDX-License-Identifier: MIT
// server: the state every connection of the HTTP server shares, and the task that serves one
// connection (keep-alive, pipelining, timeouts, graceful stop).
//
// serve_connection() runs on the io loop it was spawned on (rt.io_balanced()) and stays there,
// except while file_cache hashes on the CPU pool. Per connection: one receive buffer, one output
// buffer, one parser. The responses to every request a read brought in are written at once.
//
// Threads: `server` is shared by every io loop: its counters are atomics and its registry of open
// sockets is behind a mutex. It must outlive every connection task (main shuts the runtime down
// before it goes).
#pragma once

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <mutex>
#include <unordered_set>

#include "file_cache.hpp"
#include "request_parser.hpp"

struct server_options {
  std::chrono::milliseconds idle_timeout{10000};   // no request started: the connection is closed
  std::chrono::milliseconds header_timeout{5000};  // from a head's first byte to its end
  std::size_t max_connections = 1024;              // beyond: 503 and close
  bool access_log = false;                         // one line per request on stderr
  bool gzip = false;
  http::limits limits{};
};

class server {
 public:
  server(server_options options, file_cache& files) : options_(options), files_(files) {}

  const server_options& options() const noexcept { return options_; }
  file_cache& files() noexcept { return files_; }

  /// For the accept loop: takes a connection slot, or false when max_connections are open.
  bool try_admit() noexcept;
  /// Registers a connection's socket so that stop() can end its wait for a next request. False
  /// when the server is stopping (the connection then closes at once).
  bool enter(int fd);
  void leave(int fd) noexcept;  // also frees the slot try_admit() took
  std::size_t open_connections() const noexcept { return open_.load(std::memory_order_acquire); }

  /// Graceful stop, step 1: every connection finishes the requests it has received, answers them
  /// with "Connection: close", and closes; one waiting for a next request closes at once (its
  /// socket's reading side is shut down, so its read returns 0).
  void stop();
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

 private:
  server_options options_;
  file_cache& files_;
  std::atomic<std::size_t> open_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // guards sockets_ and orders enter() against stop()
  std::unordered_set<int> sockets_;
};

/// Serves one accepted connection to its end (client closed, error, timeout, or stop).
coring::task<void> serve_connection(server& srv, coring::net::tcp_stream stream);

/// Answers 503 and closes: for a connection beyond max_connections.
coring::task<void> refuse_connection(coring::net::tcp_stream stream);
