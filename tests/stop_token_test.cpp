// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/stop_token.hpp>

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;

TEST_CASE("cancel() stops the task's stop_token and runs its stop callbacks") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<bool> ready{false};
  std::atomic<int> callbacks{0};
  auto worker = [&]() -> task<int> {
    std::stop_token token = co_await coring::get_stop_token();
    CHECK(token.stop_possible());
    CHECK_FALSE(token.stop_requested());
    std::stop_callback on_stop(token, [&] { callbacks.fetch_add(1); });
    ready = true;
    int rounds = 0;
    while (!token.stop_requested()) {  // a loop that polls the token instead of a ring operation
      co_await coring::yield();
      ++rounds;
    }
    co_return rounds;
  };
  auto body = [&]() -> task<void> {
    auto h = coring::spawn(rt.cpu(), worker());
    while (!ready.load()) co_await coring::yield();
    h.cancel();
    CHECK(co_await h >= 0);
  };
  rt.block_on(body());
  CHECK(callbacks.load() == 1);
}

TEST_CASE("a task awaited by a spawned task sees the same stop_token") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto inner = []() -> task<bool> {
    std::stop_token token = co_await coring::get_stop_token();
    (void)co_await coring::sleep_for(1h);  // ends with operation_canceled
    co_return token.stop_requested();
  };
  auto outer = [&]() -> task<bool> { co_return co_await inner(); };
  auto body = [&]() -> task<bool> {
    auto h = coring::spawn(rt.io(), outer());
    (void)co_await coring::sleep_for(2ms);
    h.cancel();
    co_return co_await h;
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("a stop_token asked for after cancel() is already stopped") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  auto worker = [&]() -> task<bool> {
    started = true;
    while (!go.load()) co_await coring::yield();
    std::stop_token token = co_await coring::get_stop_token();
    co_return token.stop_requested();
  };
  auto body = [&]() -> task<bool> {
    auto h = coring::spawn(rt.cpu(), worker());
    while (!started.load()) co_await coring::yield();
    h.cancel();
    go = true;
    co_return co_await h;
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("a task outside any runtime gets a stop_token that never stops") {
  auto body = []() -> task<bool> {
    std::stop_token token = co_await coring::get_stop_token();
    co_return token.stop_possible();
  };
  auto t = body();
  auto h = t.release();
  h.resume();
  REQUIRE(h.done());
  CHECK_FALSE(h.promise().take());
  h.destroy();
}
