// SPDX-License-Identifier: MIT
// 10,000 concurrent loopback TCP connections to a coring server. The clients are a separate
// process (tests/tools/loopback_clients.cpp, plain POSIX sockets): client and server sockets
// together would not fit under one process's descriptor limit (20,000 here).
#include <doctest/doctest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

#ifndef CORING_LOOPBACK_CLIENTS
#error "tests/CMakeLists.txt passes the path of the loopback_clients program"
#endif

extern char** environ;

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

struct server_state {
  std::atomic<int> open{0};  // connections accepted and not yet finished
  std::atomic<int> peak{0};  // the most that were open at once
  std::atomic<int> finished{0};
  std::atomic<std::size_t> echoed_bytes{0};
};

/// Echoes one connection until the client closes it (or resets it).
task<void> echo_until_closed(tcp_stream s, server_state& state) {
  std::array<char, 128> buffer{};
  for (bool open = true; open;) {
    const coring::result<std::size_t> n = co_await s.read(std::span<char>(buffer));
    if (!n || *n == 0) break;
    std::span<const char> rest(buffer.data(), *n);
    while (!rest.empty()) {
      const coring::result<std::size_t> w = co_await s.write(rest);
      if (!w) {
        open = false;
        break;
      }
      rest = rest.subspan(*w);
    }
    if (open) state.echoed_bytes.fetch_add(*n);
  }
  state.open.fetch_sub(1);
  state.finished.fetch_add(1);
}

struct accept_report {
  std::size_t accepted = 0;
  std::error_code error;  // why accepting stopped early
};

/// Accepts `count` connections and starts an echo task for each, alternating the pools; records
/// how many connections are open at once.
task<accept_report> accept_all(coring::runtime& rt, const tcp_listener& listener, std::size_t count,
                               server_state& state) {
  accept_report report;
  while (report.accepted < count) {
    coring::result<tcp_stream> s = co_await listener.accept();
    if (!s) {
      if (s.error() == std::errc::connection_aborted || s.error() == std::errc::interrupted) continue;
      report.error = s.error();
      break;
    }
    ++report.accepted;
    const int now = state.open.fetch_add(1) + 1;
    int seen = state.peak.load();
    while (now > seen && !state.peak.compare_exchange_weak(seen, now)) {
    }
    const coring::executor home = report.accepted % 2 == 0 ? rt.io() : rt.cpu();
    coring::spawn(home, echo_until_closed(std::move(*s), state)).detach();
  }
  co_return report;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

/// Raises the soft descriptor limit to the hard one; returns the soft limit now in force.
rlim_t raise_fd_limit() {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  return limit.rlim_cur;
}

/// Runs the client program; returns its wait status.
int run_clients(const endpoint& server, std::size_t count) {
  std::string program = CORING_LOOPBACK_CLIENTS;
  std::string host = server.address_string();
  std::string port = std::to_string(server.port());
  std::string how_many = std::to_string(count);
  char* argv[] = {program.data(), host.data(), port.data(), how_many.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ);
  REQUIRE_MESSAGE(rc == 0,
                  "posix_spawn " << program << ": " << std::error_code(rc, std::system_category()).message());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
  return status;
}

std::size_t message_bytes(std::size_t count) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i)
    total += ("connection " + std::to_string(i) + " says hello\n").size();
  return total;
}

}  // namespace

TEST_CASE("10,000 concurrent loopback TCP connections are all open at once and each gets its own echo") {
  std::size_t connections = 10000;
  const rlim_t fd_limit = raise_fd_limit();
  constexpr rlim_t spare = 256;  // the test binary's own descriptors: rings, eventfds, the listener
  if (fd_limit < connections + spare) {
    connections = static_cast<std::size_t>(fd_limit - spare);
    WARN_MESSAGE(false, "descriptor limit " << fd_limit << ": only " << connections << " connections");
  }

  server_state state;  // outlives the runtime, whose detached echo tasks use it
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  // The kernel caps the backlog at net.core.somaxconn (4096 here); the client also limits how
  // many connections it sets up at once, so a full accept queue costs time, not connections.
  coring::result<tcp_listener> listener = tcp_listener::bind(endpoint::loopback_v4(0), {.backlog = 8192});
  REQUIRE_MESSAGE(listener, "bind: " << listener.error().message());
  const endpoint where = listener->local_endpoint().value();

  auto acceptor = coring::spawn(rt.io(), accept_all(rt, *listener, connections, state));
  const int status = run_clients(where, connections);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) acceptor.cancel();  // do not wait for the rest

  const accept_report report = rt.block_on(join(std::move(acceptor)));
  CHECK_MESSAGE(!report.error, "accept: " << report.error.message());
  CHECK(report.accepted == connections);
  // The client holds every connection until all echoes came back: all were open at once.
  CHECK(state.peak.load() == static_cast<int>(connections));
  // The client reset its connections on exit: every echo task ends.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (state.finished.load() != static_cast<int>(report.accepted) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(state.finished.load() == static_cast<int>(report.accepted));
  CHECK(state.open.load() == 0);
  CHECK(state.echoed_bytes.load() == message_bytes(connections));
}
