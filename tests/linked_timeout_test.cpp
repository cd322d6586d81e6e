// SPDX-License-Identifier: MIT
// Deadlines on single ring operations (a linked IORING_OP_LINK_TIMEOUT) and the retry of
// operations the kernel answers with EAGAIN.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/file.hpp>
#include <coring/join_handle.hpp>
#include <coring/on.hpp>
#include <coring/runtime.hpp>
#include <coring/sleep.hpp>
#include <coring/spawn.hpp>
#include <coring/timeout.hpp>
#include <cstring>
#include <string>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using coring_test::small_runtime;

namespace {

struct socket_pair {
  int fds[2] = {-1, -1};
  socket_pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }
  ~socket_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;
};

/// A recv the kernel answers with EAGAIN at once when nothing is there (MSG_DONTWAIT).
coring::detail::transfer_awaitable recv_dontwait(int fd, char* buffer, std::size_t size) {
  return {coring::detail::op_code::recv, fd, buffer, size, 0, MSG_DONTWAIT};
}

void write_later(int fd, const char* text, std::chrono::milliseconds delay) {
  std::this_thread::sleep_for(delay);
  REQUIRE(::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text)));
}

task<std::error_code> timed_read(const runtime& rt, int fd, std::chrono::milliseconds limit) {
  coring::file end{::dup(fd)};
  char buffer[16];
  const auto spawned = rt.metrics().tasks_spawned;
  const auto started = std::chrono::steady_clock::now();
  auto n = co_await coring::timeout(limit, end.read_at(buffer, 0));
  CHECK(std::chrono::steady_clock::now() - started >= limit);
  CHECK(rt.metrics().tasks_spawned == spawned);  // no child task, no timer task
  co_return n.error();
}

}  // namespace

TEST_CASE("a read with a deadline times out in the kernel, without a timer task") {
  runtime rt{small_runtime()};
  socket_pair pair;
  CHECK(rt.block_on(timed_read(rt, pair.fds[0], 20ms)) == std::errc::timed_out);
  // The read is gone from the kernel: a byte written now is still there for us.
  REQUIRE(::write(pair.fds[1], "x", 1) == 1);
  char back = 0;
  CHECK(::read(pair.fds[0], &back, 1) == 1);
  CHECK(back == 'x');
}

TEST_CASE("a read with a deadline gives the data that arrives before it") {
  runtime rt{small_runtime()};
  socket_pair pair;
  std::thread writer(write_later, pair.fds[1], "hello", 10ms);
  auto body = [&]() -> task<std::string> {
    co_await coring::on(rt.cpu());
    coring::file end{::dup(pair.fds[0])};
    char buffer[16];
    auto n = co_await coring::timeout(10s, end.read_at(buffer, 0));
    CHECK(rt.cpu().running_in_this_thread());  // the affinity rule holds with a deadline too
    co_return n ? std::string(buffer, *n) : n.error().message();
  };
  CHECK(rt.block_on(body()) == "hello");
  writer.join();
}

TEST_CASE("a canceled read with a deadline reports operation_canceled, not timed_out") {
  runtime rt{small_runtime()};
  socket_pair pair;
  auto reader = [](int fd) -> task<std::error_code> {
    coring::file end{::dup(fd)};
    char buffer[16];  // in the frame: must outlive the kernel's use of it
    auto n = co_await coring::timeout(30s, end.read_at(buffer, 0));
    co_return n.error();
  };
  auto handle = coring::spawn(rt.cpu(), reader(pair.fds[0]));
  std::this_thread::sleep_for(10ms);
  handle.cancel();
  auto join = [&]() -> task<std::error_code> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == std::errc::operation_canceled);
}

TEST_CASE("a sleep with an earlier deadline times out, a shorter one completes") {
  runtime rt{small_runtime()};
  auto body = []() -> task<void> {
    auto late = co_await coring::timeout(5ms, coring::sleep_for(10s));
    CHECK(late.error() == std::errc::timed_out);
    auto early = co_await coring::timeout(10s, coring::sleep_for(1ms));
    CHECK(early);
  };
  rt.block_on(body());
}

TEST_CASE("a zero deadline times out an operation that would wait") {
  runtime rt{small_runtime()};
  socket_pair pair;
  auto body = [&]() -> task<std::error_code> {
    coring::file end{::dup(pair.fds[0])};
    char buffer[4];
    auto n = co_await coring::timeout(0ms, end.read_at(buffer, 0));
    co_return n.error();
  };
  CHECK(rt.block_on(body()) == std::errc::timed_out);
}

TEST_CASE("an operation the kernel answers with EAGAIN waits for readiness and runs again") {
  runtime rt{small_runtime()};
  socket_pair pair;
  std::thread writer(write_later, pair.fds[1], "late", 20ms);
  auto body = [&]() -> task<std::string> {
    char buffer[16];
    auto n = co_await recv_dontwait(pair.fds[0], buffer, sizeof buffer);
    co_return n ? std::string(buffer, *n) : n.error().message();
  };
  CHECK(rt.block_on(body()) == "late");
  writer.join();
}

TEST_CASE("a deadline also ends the readiness wait of an operation that got EAGAIN") {
  runtime rt{small_runtime()};
  socket_pair pair;
  auto body = [&]() -> task<std::error_code> {
    co_await coring::on(rt.cpu());
    char buffer[16];
    auto n = co_await coring::timeout(20ms, recv_dontwait(pair.fds[0], buffer, sizeof buffer));
    co_return n.error();
  };
  CHECK(rt.block_on(body()) == std::errc::timed_out);
}

TEST_CASE("canceling an operation that waits for readiness after EAGAIN gives operation_canceled") {
  runtime rt{small_runtime()};
  socket_pair pair;
  std::atomic<bool> started{false};
  auto reader = [](int fd, std::atomic<bool>& running) -> task<std::error_code> {
    char buffer[16];
    running = true;
    auto n = co_await recv_dontwait(fd, buffer, sizeof buffer);
    co_return n.error();
  };
  auto handle = coring::spawn(rt.io(), reader(pair.fds[0], started));
  // Canceled before it started, the task would never reach the readiness wait.
  while (!started.load()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(10ms);
  handle.cancel();
  auto join = [&]() -> task<std::error_code> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == std::errc::operation_canceled);
  // Nothing is left reading: a byte written now stays in the socket.
  REQUIRE(::write(pair.fds[1], "y", 1) == 1);
  char back = 0;
  CHECK(::recv(pair.fds[0], &back, 1, MSG_DONTWAIT) == 1);
}
