// SPDX-License-Identifier: MIT
// shutdown(grace): tasks are asked to stop and finish on their own; and a finished task's frame
// (with what its parameters own) is released at its end, not when its join_handle goes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int sleepers = 20'000;  // the same paths, in seconds under the sanitizers' cost
#else
constexpr int sleepers = 100'000;
#endif
constexpr int socket_readers = 1000;
constexpr int pipe_readers = 200;

struct fd_pair {
  int a = -1;
  int b = -1;
  ~fd_pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

}  // namespace

TEST_CASE("shutdown with a grace period lets sleeps, socket reads and file reads finish on their own") {
  std::atomic<int> waiting{0};
  std::atomic<int> finished{0};  // counted after the canceled await: the task ran to its end itself
  std::vector<fd_pair> sockets(socket_readers);
  std::vector<fd_pair> pipes(pipe_readers);
  for (auto& s : sockets) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    s.a = fds[0];
    s.b = fds[1];
  }
  for (auto& p : pipes) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    p.a = fds[0];
    p.b = fds[1];
  }
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  auto sleeper = [&]() -> task<void> {
    waiting.fetch_add(1, std::memory_order_relaxed);
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) finished.fetch_add(1, std::memory_order_relaxed);
  };
  auto socket_reader = [&](int fd) -> task<void> {
    coring::net::unix_stream stream{::dup(fd)};
    char buffer[64];
    waiting.fetch_add(1, std::memory_order_relaxed);
    auto r = co_await stream.read(buffer);
    if (r.error() == std::errc::operation_canceled) finished.fetch_add(1, std::memory_order_relaxed);
  };
  auto pipe_reader = [&](int fd) -> task<void> {
    coring::file f{::dup(fd)};
    char buffer[64];
    waiting.fetch_add(1, std::memory_order_relaxed);
    auto r = co_await f.read_at(buffer, 0);
    if (r.error() == std::errc::operation_canceled) finished.fetch_add(1, std::memory_order_relaxed);
  };
  for (int i = 0; i < sleepers; ++i) coring::spawn_detached(i % 2 ? rt.cpu() : rt.io(), sleeper());
  for (int i = 0; i < socket_readers; ++i) {
    coring::spawn_detached(i % 2 ? rt.cpu() : rt.io(), socket_reader(sockets[i].a));
  }
  for (int i = 0; i < pipe_readers; ++i)
    coring::spawn_detached(i % 2 ? rt.cpu() : rt.io(), pipe_reader(pipes[i].a));
  constexpr int total = sleepers + socket_readers + pipe_readers;
  for (int i = 0; i < 30'000 && waiting.load() < total; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(waiting.load() == total);
  std::this_thread::sleep_for(20ms);  // the last ones reach the kernel or the timer heap

  const auto begin = std::chrono::steady_clock::now();
  rt.shutdown(60s);
  const auto took = std::chrono::steady_clock::now() - begin;
  CHECK(finished.load() == total);
  CHECK(took < 50s);  // returned because every task finished, not because the grace ran out
  CHECK(rt.metrics().tasks_alive == 0);
}

TEST_CASE("shutdown's grace period ends for a task that ignores the stop request") {
  std::atomic<bool> running{false};
  std::atomic<int> stopped_by_shutdown{0};
  {
    runtime rt{coring_test::small_runtime()};
    auto stubborn = [&]() -> task<void> {
      struct on_destroy {
        std::atomic<int>& n;
        ~on_destroy() { n.fetch_add(1); }
      } guard{stopped_by_shutdown};
      running = true;
      (void)co_await coring::sleep_for(1h);  // ends with operation_canceled, which it ignores:
      for (;;) co_await coring::yield();     // it keeps running until shutdown destroys it
    };
    coring::spawn_detached(rt.io(), stubborn());
    coring_test::block_until([&] { return running.load(); });
    const auto begin = std::chrono::steady_clock::now();
    rt.shutdown(200ms);
    const auto took = std::chrono::steady_clock::now() - begin;
    CHECK(took >= 190ms);
    CHECK(took < 10s);
    CHECK(stopped_by_shutdown.load() == 1);
  }
}

TEST_CASE("work spawned during the grace period is stopped too") {
  std::atomic<int> finished{0};
  runtime rt{coring_test::small_runtime()};
  std::atomic<bool> go{false};
  auto late = [&]() -> task<void> {
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) finished.fetch_add(1);
  };
  auto spawner = [&]() -> task<void> {
    go = true;
    auto r = co_await coring::sleep_for(1h);
    (void)r;
    // Winding down spawns more work, which must not hold shutdown for the whole grace period.
    for (int i = 0; i < 10; ++i) coring::spawn_detached(rt.cpu(), late());
  };
  coring::spawn_detached(rt.io(), spawner());
  coring_test::block_until([&] { return go.load(); });
  const auto begin = std::chrono::steady_clock::now();
  rt.shutdown(60s);
  CHECK(std::chrono::steady_clock::now() - begin < 30s);
  CHECK(finished.load() == 10);
}

TEST_CASE("a finished task's parameters are released at its end while its join_handle is kept") {
  counted::alive = 0;
  runtime rt{coring_test::small_runtime()};
  auto with_value = [](counted, int v) -> task<int> { co_return v; };
  auto with_void = [](counted) -> task<void> { co_return; };
  auto throwing = [](counted) -> task<int> {
    throw std::runtime_error("kept");
    co_return 0;
  };
  auto a = coring::spawn(rt.cpu(), with_value(counted{}, 5));
  auto b = coring::spawn(rt.io(), with_void(counted{}));
  auto c = coring::spawn(rt.cpu(), throwing(counted{}));
  coring_test::block_until([&] { return a.done() && b.done() && c.done(); });
  CHECK(counted::alive == 0);
  // The outcomes are still there to take.
  auto join = [&]() -> task<void> {
    CHECK(co_await a == 5);
    co_await b;
    CHECK_THROWS_WITH_AS(co_await c, "kept", std::runtime_error);
  };
  rt.block_on(join());
}

TEST_CASE("a socket passed by value to a finished task is closed while its join_handle is kept") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  runtime rt{coring_test::small_runtime()};
  auto greet = [](coring::net::unix_stream s) -> task<std::size_t> {
    auto n = co_await s.write(std::string_view("hi"));
    co_return n.value_or(0);
  };
  auto h = coring::spawn(rt.io(), greet(coring::net::unix_stream{fds[0]}));
  coring_test::block_until([&] { return h.done(); });
  char buffer[8];
  CHECK(::read(fds[1], buffer, sizeof buffer) == 2);
  CHECK(::recv(fds[1], buffer, sizeof buffer, MSG_DONTWAIT) ==
        0);  // end of stream: the task's copy is closed
  auto join = [&]() -> task<std::size_t> { co_return co_await h; };
  CHECK(rt.block_on(join()) == 2);
  ::close(fds[1]);
}
