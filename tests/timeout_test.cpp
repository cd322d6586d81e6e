// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <coring/coring.hpp>
#include <coring/timeout.hpp>

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;

TEST_CASE("timeout gives the value when the work finishes first") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto work = []() -> task<int> {
    (void)co_await coring::sleep_for(1ms);
    co_return 9;
  };
  auto body = [&]() -> task<void> {
    coring::result<int> r = co_await coring::timeout(1s, work());
    REQUIRE(r);
    CHECK(*r == 9);
    coring::result<void> slept = co_await coring::timeout(1s, coring::sleep_for(1ms));  // flattened
    CHECK(slept);
  };
  rt.block_on(body());
}

TEST_CASE("timeout reports timed_out and cancels a read that never completes") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  coring::file end{::dup(fds[0])};
  auto body = [&]() -> task<std::error_code> {
    co_await coring::on(rt.cpu());
    char buffer[32];
    coring::result<std::size_t> n = co_await coring::timeout(5ms, end.read_at(buffer, 0));
    CHECK(rt.cpu().running_in_this_thread());
    co_return n.error();
  };
  CHECK(rt.block_on(body()) == std::errc::timed_out);
  // The read was canceled in the kernel: a byte written now stays in the pipe.
  CHECK(::write(fds[1], "z", 1) == 1);
  char back = 0;
  CHECK(::read(fds[0], &back, 1) == 1);
  CHECK(back == 'z');
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("timeout rethrows the work's exception") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto failing = []() -> task<int> {
    throw std::out_of_range("inside timeout");
    co_return 0;
  };
  auto body = [&]() -> task<void> { (void)co_await coring::timeout(1s, failing()); };
  CHECK_THROWS_AS(rt.block_on(body()), std::out_of_range);
}
