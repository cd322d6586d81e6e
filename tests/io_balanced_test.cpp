// SPDX-License-Identifier: MIT
// Tests for where spawned io tasks land (spawn.hpp's top comment): rt.io() from an io loop keeps
// the task on that loop, rt.io_balanced() spreads tasks over every loop by load, from any thread;
// the accept-then-spawn server of examples/echo_server.cpp serves its connections on every loop.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using coring::runtime;
using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;
using coring_test::this_id;

/// Which thread served how many tasks.
class thread_tally {
 public:
  void count() {
    std::lock_guard lock(mutex_);
    ++served_[std::this_thread::get_id()];
  }
  std::map<std::thread::id, int> snapshot() {
    std::lock_guard lock(mutex_);
    return served_;
  }

 private:
  std::mutex mutex_;
  std::map<std::thread::id, int> served_;
};

/// One connection of the echo server: records its loop's thread, echoes until the peer closes.
task<void> echo(tcp_stream s, thread_tally& tally) {
  tally.count();
  char buf[256];
  for (;;) {
    auto n = co_await s.read(std::span<char>(buf));
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::as_bytes(std::span<const char>(buf, *n)))) co_return;
  }
}

/// The accept-then-spawn server of examples/echo_server.cpp, for `connections` connections.
task<void> serve(tcp_listener& listener, coring::executor connections_on, int connections,
                 thread_tally& tally) {
  auto incoming = listener.incoming();
  for (int i = 0; i < connections; ++i) {
    auto s = co_await coring::timeout(std::chrono::seconds(30), incoming.next());
    REQUIRE_MESSAGE(s, "accept " << i << ": " << s.error().message());
    coring::spawn_detached(connections_on, echo(std::move(*s), tally));
  }
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  timeval limit{30, 0};  // a read that never gets its echo fails the test instead of hanging
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) == 0);
  return fd;
}

/// Opens `count` connections, all at once, and checks each gets its byte echoed.
void run_clients(std::uint16_t port, int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) fds.push_back(connect_to(port));
  for (int i = 0; i < count; ++i) {
    const char byte = static_cast<char>('a' + i % 26);
    REQUIRE(::write(fds[i], &byte, 1) == 1);
    char back = 0;
    ssize_t n;
    do {
      n = ::read(fds[i], &back, 1);
    } while (n < 0 && errno == EINTR);
    const int error = n < 0 ? errno : 0;
    REQUIRE_MESSAGE(n == 1, "connection " << i << ": read gave " << n << ", errno " << error);
    CHECK(back == byte);
  }
  for (int fd : fds) ::close(fd);
}

std::uint16_t port_of(const tcp_listener& listener) {
  auto local = listener.local_endpoint();
  REQUIRE(local);
  return local->port();
}

}  // namespace

TEST_CASE("64 connections accepted by the echo server with io_threads = 2 are served by both loops") {
  // Declared before the runtime: its shutdown destroys tasks that still use them.
  tcp_listener listener = tcp_listener::bind(endpoint::loopback_v4(0)).value();
  thread_tally tally;
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  auto server = coring::spawn(rt.io(), serve(listener, rt.io_balanced(), 64, tally));
  run_clients(port_of(listener), 64);
  rt.block_on(std::move(server));
  const auto served = tally.snapshot();
  REQUIRE(served.size() == 2);
  int total = 0;
  for (const auto& [thread, count] : served) {
    MESSAGE("a loop served " << count << " connections");
    CHECK(count >= 16);  // balanced by load: about 32 each
    total += count;
  }
  CHECK(total == 64);
}

TEST_CASE("connections spawned with rt.io() from the accepting loop all stay on that loop") {
  // Declared before the runtime: its shutdown destroys tasks that still use them.
  tcp_listener listener = tcp_listener::bind(endpoint::loopback_v4(0)).value();
  thread_tally tally;
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  auto server = coring::spawn(rt.io(), serve(listener, rt.io(), 16, tally));
  run_clients(port_of(listener), 16);
  rt.block_on(std::move(server));
  const auto served = tally.snapshot();
  REQUIRE(served.size() == 1);
  CHECK(served.begin()->second == 16);
}

TEST_CASE("io_balanced() spreads tasks over every loop from a CPU worker and from a foreign thread") {
  thread_tally from_cpu;
  thread_tally from_main;
  runtime rt{{.io_threads = 3, .cpu_threads = 2}};
  auto busy = [](thread_tally& tally) -> task<void> {
    tally.count();
    (void)co_await coring::sleep_for(std::chrono::milliseconds(50));  // keeps the loop loaded
  };
  auto spawner = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    std::vector<coring::join_handle<void>> handles;
    for (int i = 0; i < 30; ++i) handles.push_back(coring::spawn(rt.io_balanced(), busy(from_cpu)));
    for (auto& h : handles) co_await h;
  };
  rt.block_on(spawner());
  std::vector<coring::join_handle<void>> handles;
  for (int i = 0; i < 30; ++i) handles.push_back(coring::spawn(rt.io_balanced(), busy(from_main)));
  for (auto& h : handles) rt.block_on(std::move(h));
  CHECK(from_cpu.snapshot().size() == 3);
  CHECK(from_main.snapshot().size() == 3);
}

TEST_CASE("a task placed by io_balanced() stays on its loop after every wait and is not on the CPU pool") {
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  auto pinned = [&]() -> task<bool> {
    const auto me = this_id();
    bool same = !rt.cpu().running_in_this_thread() && rt.io().running_in_this_thread();
    for (int i = 0; i < 5; ++i) {
      (void)co_await coring::sleep_for(std::chrono::microseconds(200));
      same = same && this_id() == me && rt.io_balanced().running_in_this_thread();
    }
    co_return same;
  };
  std::vector<coring::join_handle<bool>> handles;
  for (int i = 0; i < 8; ++i) handles.push_back(coring::spawn(rt.io_balanced(), pinned()));
  for (auto& h : handles) CHECK(rt.block_on(std::move(h)));
}

TEST_CASE("on(io_balanced()) moves a CPU task to an io loop, and is a no-op on an io loop") {
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  auto body = [&]() -> task<bool> {
    const auto loop_thread = this_id();
    co_await coring::on(rt.io_balanced());  // already on one of the pool's loops: stays
    const bool stayed = this_id() == loop_thread;
    co_await coring::on(rt.cpu());
    co_await coring::on(rt.io_balanced());
    co_return stayed&& rt.io().running_in_this_thread();
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("a task spawned with io_balanced() after shutdown never runs and its handle says so") {
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  const coring::executor balanced = rt.io_balanced();
  rt.shutdown();
  bool ran = false;
  auto body = [](bool& flag) -> task<void> {
    flag = true;
    co_return;
  };
  auto h = coring::spawn(balanced, body(ran));
  CHECK(h.done());
  CHECK_FALSE(ran);
  CHECK_THROWS_AS(rt.block_on(std::move(h)), std::system_error);
}
