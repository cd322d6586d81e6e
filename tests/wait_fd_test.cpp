// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/net/tcp_listener.hpp>
#include <coring/net/tcp_stream.hpp>
#include <coring/wait_fd.hpp>
#include <thread>

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;

TEST_CASE("wait_readable completes when another thread makes a foreign descriptor readable") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  std::atomic<bool> waiting{false};
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    waiting = true;
    auto ready = co_await coring::wait_readable(efd);
    REQUIRE(ready);
    CHECK((*ready & POLLIN) != 0);
    CHECK(rt.cpu().running_in_this_thread());
    eventfd_t value = 0;
    CHECK(::eventfd_read(efd, &value) == 0);
    CHECK(value == 5);
  };
  std::thread writer([&] {
    while (!waiting.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(5ms);
    ::eventfd_write(efd, 5);
  });
  rt.block_on(body());
  writer.join();
  ::close(efd);
}

TEST_CASE("wait_writable on a pipe with room completes at once") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  auto body = [&]() -> task<unsigned> { co_return (co_await coring::wait_writable(fds[1])).value(); };
  CHECK((rt.block_on(body()) & POLLOUT) != 0);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("wait_readable on a bad descriptor reports bad_file_descriptor") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = []() -> task<std::error_code> {
    auto negative = co_await coring::wait_readable(-1);
    CHECK(negative.error() == std::errc::bad_file_descriptor);
    co_return (co_await coring::wait_readable(987654)).error();
  };
  CHECK(rt.block_on(body()) == std::errc::bad_file_descriptor);
}

TEST_CASE("cancel ends a wait on a descriptor that never gets ready") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::atomic<bool> waiting{false};
  auto waiter = [&]() -> task<std::error_code> {
    waiting = true;
    co_return (co_await coring::wait_readable(fds[0])).error();
  };
  auto body = [&]() -> task<std::error_code> {
    auto h = coring::spawn(rt.cpu(), waiter());
    while (!waiting.load()) co_await coring::yield();
    (void)co_await coring::sleep_for(5ms);
    h.cancel();
    co_return co_await h;
  };
  CHECK(rt.block_on(body()) == std::errc::operation_canceled);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("wait_readable on a socket coring already reads from sees data that came while nobody waited") {
  // The epoll backend keeps one edge-triggered registration per socket it owns: an edge that came
  // while no operation was parked must not be what a later wait_readable waits for.
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<void> {
    auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0));
    REQUIRE(listener);
    auto client = co_await coring::net::tcp_stream::connect(listener->local_endpoint().value());
    REQUIRE(client);
    auto server = co_await listener->accept();
    REQUIRE(server);
    char byte = 0;
    // A named closure: the coroutine refers to its captures, which must outlive the task.
    auto read_first = [&]() -> task<std::size_t> {
      co_return (co_await server->read(std::span<char>(&byte, 1))).value();  // parks: nothing sent yet
    };
    auto first_read = coring::spawn(rt.io(), read_first());
    co_await coring::sleep_for(10ms);
    REQUIRE((co_await client->write(std::span<const char>("a", 1))).value() == 1);
    CHECK(co_await first_read == 1);
    CHECK(byte == 'a');

    REQUIRE((co_await client->write(std::span<const char>("b", 1))).value() == 1);
    co_await coring::sleep_for(20ms);  // its edge comes and goes with nobody parked
    auto ready = co_await coring::timeout(2s, coring::wait_readable(server->native_handle()));
    REQUIRE(ready);
    CHECK((*ready & POLLIN) != 0);
    auto writable = co_await coring::timeout(2s, coring::wait_writable(server->native_handle()));
    REQUIRE(writable);
    CHECK((*writable & POLLOUT) != 0);
    CHECK((co_await server->read(std::span<char>(&byte, 1))).value() == 1);
    CHECK(byte == 'b');
  };
  rt.block_on(body());
}
