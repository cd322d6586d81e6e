// SPDX-License-Identifier: MIT
// Tests for runtimes with one pool only (runtime_options::io_threads or cpu_threads = 0), the
// one_per_core default, and rt.block_on(join_handle) on both pools.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <coring/coring.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "support.hpp"

namespace {

using coring::runtime;
using coring::task;

task<int> forty_two() {
  co_return 42;
}

task<int> fails() {
  throw std::runtime_error("task failed");
  co_return 0;
}

}  // namespace

TEST_CASE("cpu_threads defaults to one_per_core: one CPU worker per hardware thread") {
  runtime rt{{.io_threads = 1}};
  CHECK(rt.metrics().cpu_threads == std::max(1u, std::thread::hardware_concurrency()));
  runtime explicit_rt{{.io_threads = coring::one_per_core, .cpu_threads = 1}};
  CHECK(explicit_rt.metrics().io_threads == std::max(1u, std::thread::hardware_concurrency()));
}

TEST_CASE("an io-only runtime (cpu_threads = 0) does I/O and timers; rt.cpu() throws logic_error") {
  runtime rt{{.io_threads = 2, .cpu_threads = 0}};
  CHECK(rt.metrics().cpu_threads == 0);
  CHECK(rt.metrics().io_threads == 2);
  try {
    (void)rt.cpu();
    FAIL("rt.cpu() returned");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()).find("cpu_threads = 0") != std::string::npos);
  }
  auto body = [&]() -> task<int> {
    CHECK(rt.io().running_in_this_thread());
    auto slept = co_await coring::sleep_for(std::chrono::milliseconds(1));
    CHECK(slept);
    auto files = co_await coring::fs::status("/");
    CHECK(files);
    co_return co_await coring::spawn(rt.io_balanced(), forty_two());
  };
  CHECK(rt.block_on(body()) == 42);
}

TEST_CASE(
    "a CPU-only runtime (io_threads = 0) runs block_on on the CPU pool; I/O, timers and timeouts there are "
    "not supported") {
  runtime rt{{.io_threads = 0, .cpu_threads = 2}};
  CHECK(rt.metrics().io_threads == 0);
  CHECK(rt.metrics().cpu_threads == 2);
  CHECK_THROWS_AS((void)rt.io(), std::logic_error);
  CHECK_THROWS_AS((void)rt.io_balanced(), std::logic_error);
  auto body = [&]() -> task<int> {
    CHECK(rt.cpu().running_in_this_thread());
    auto slept = co_await coring::sleep_for(std::chrono::milliseconds(1));
    CHECK(slept.error() == std::errc::not_supported);
    auto opened = co_await coring::file::open("/etc/hostname");
    CHECK(opened.error() == std::errc::not_supported);
    // Computation still works: fork-join, spawns, primitives.
    auto [a, b] = co_await coring::when_all(forty_two(), forty_two());
    coring::channel<int> ch{1};
    (void)co_await ch.send(a + b);
    auto got = co_await ch.receive();
    CHECK(got);
    // No timer: a timeout cannot run, and says so instead of timed_out or operation_canceled.
    coring::channel<int> empty{1};
    auto waited = co_await coring::timeout(std::chrono::seconds(5), empty.receive());
    CHECK(waited.error() == std::errc::not_supported);
    co_return *got - co_await coring::spawn(co_await coring::this_executor(), forty_two());
  };
  CHECK(rt.block_on(body()) == 42);
  CHECK_THROWS_WITH_AS(rt.block_on(fails()), "task failed", std::runtime_error);
}

TEST_CASE("a CPU-only runtime destroys a task still waiting at shutdown") {
  coring_test::counted::alive = 0;
  {
    runtime rt{{.io_threads = 0, .cpu_threads = 1}};
    coring::async_event never;
    auto waiter = [&](coring_test::counted) -> task<void> { co_await never.wait(); };
    auto h = coring::spawn(rt.cpu(), waiter(coring_test::counted{}));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (rt.metrics().tasks_alive == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    rt.shutdown();
    CHECK(h.done());
  }
  CHECK(coring_test::counted::alive == 0);
}

TEST_CASE("a runtime with io_threads = 0 and cpu_threads = 0 is refused with invalid_argument") {
  try {
    runtime rt{{.io_threads = 0, .cpu_threads = 0}};
    FAIL("constructed a runtime without threads");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("coring::runtime_options") != std::string::npos);
    CHECK(what.find("io_threads and cpu_threads are both 0") != std::string::npos);
  }
}

TEST_CASE("block_on(join_handle) gives the value of a task spawned on either pool") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  CHECK(rt.block_on(coring::spawn(rt.io(), forty_two())) == 42);
  CHECK(rt.block_on(coring::spawn(rt.cpu(), forty_two())) == 42);
  bool ran = false;
  auto side_effect = [](bool& flag) -> task<void> {
    (void)co_await coring::sleep_for(std::chrono::milliseconds(1));
    flag = true;
  };
  rt.block_on(coring::spawn(rt.cpu(), side_effect(ran)));
  CHECK(ran);
}

TEST_CASE("block_on(join_handle) rethrows the task's exception, on either pool") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  CHECK_THROWS_WITH_AS(rt.block_on(coring::spawn(rt.io(), fails())), "task failed", std::runtime_error);
  CHECK_THROWS_WITH_AS(rt.block_on(coring::spawn(rt.cpu(), fails())), "task failed", std::runtime_error);
}

TEST_CASE(
    "block_on(join_handle) of a canceled task throws operation_canceled; of an empty handle, logic_error") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto forever = []() -> task<int> {
    (void)co_await coring::sleep_for(std::chrono::hours(1));
    co_return 1;
  };
  auto h = coring::spawn(rt.cpu(), forever());
  h.cancel();
  try {
    const int v = rt.block_on(std::move(h));
    CHECK(v == 1);  // the sleep ended as canceled and the task returned normally
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::operation_canceled);  // canceled before it started
  }
  CHECK_THROWS_AS(rt.block_on(coring::join_handle<int>{}), std::logic_error);
  auto taken = coring::spawn(rt.io(), forty_two());
  auto take = [&]() -> task<int> { co_return co_await taken; };
  CHECK(rt.block_on(take()) == 42);
  CHECK_THROWS_AS(rt.block_on(std::move(taken)), std::logic_error);  // its result was taken
}
