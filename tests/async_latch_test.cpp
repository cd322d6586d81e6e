// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_latch.hpp>
#include <coring/coring.hpp>
#include <coroutine>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_latch;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

using coring_test::block_until;
using coring_test::by_hand;
using coring_test::wait_until;

}  // namespace

TEST_CASE("async_latch refuses a negative count and a latch of zero is already released") {
  CHECK_THROWS_AS(async_latch{-1}, std::invalid_argument);
  async_latch zero{0};
  CHECK(zero.try_wait());
  CHECK(zero.wait().await_ready());
}

TEST_CASE("async_latch count_down by several at once, and wait after reaching zero does not suspend") {
  async_latch l{5};
  auto waiter = [&]() -> task<void> { co_await l.wait(); };
  by_hand early(waiter());
  CHECK_FALSE(early.done());
  l.count_down(2);
  CHECK_FALSE(l.try_wait());
  CHECK_FALSE(early.done());
  l.count_down(0);  // no change
  l.count_down(3);  // reaches zero: the waiter resumes inline (it has no home pool)
  CHECK(l.try_wait());
  CHECK(early.done());
  by_hand late(waiter());
  CHECK(late.done());  // ran to the end inside its first resume

  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<void> {
    const auto before = std::this_thread::get_id();
    co_await l.wait();
    CHECK(std::this_thread::get_id() == before);
  };
  rt.block_on(body());
}

TEST_CASE(
    "async_latch count_down from tasks on both pools releases every waiter exactly once, on its own pool") {
  runtime rt{coring_test::small_runtime()};
  constexpr int counters = 8;
  constexpr int waiters = 6;
  async_latch l{counters};
  std::atomic<int> started{0};
  std::atomic<int> released{0};
  std::atomic<int> counted_down{0};
  auto waiter = [&](coring::executor home) -> task<void> {
    started.fetch_add(1);
    co_await l.wait();
    CHECK(home.running_in_this_thread());
    CHECK(counted_down.load() == counters);  // the count_downs happen before the release
    released.fetch_add(1);
  };
  auto counter = [&](int i) -> task<void> {
    if (i % 3 == 0) (void)co_await coring::sleep_for(std::chrono::milliseconds(i));
    counted_down.fetch_add(1);
    l.count_down();
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < waiters; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      hs.push_back(coring::spawn(ex, waiter(ex)));
    }
    co_await wait_until([&] { return started.load() == waiters; });
    (void)co_await coring::sleep_for(5ms);
    CHECK(released.load() == 0);
    for (int i = 0; i < counters; ++i) hs.push_back(coring::spawn(i % 2 ? rt.io() : rt.cpu(), counter(i)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(released.load() == waiters);
  CHECK(l.try_wait());
}

TEST_CASE("shutdown destroys tasks parked on an async_latch wait") {
  counted::alive = 0;
  std::atomic<int> parked{0};
  {
    async_latch l{1};  // outlives the runtime
    {
      runtime rt{coring_test::small_runtime()};
      auto waiter = [&](counted) -> task<void> {
        parked.fetch_add(1);
        co_await l.wait();
        FAIL("the wait must never complete");
      };
      for (int i = 0; i < 4; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), waiter(counted{})).detach();
      for (int i = 0; i < 5000 && parked.load() < 4; ++i) std::this_thread::sleep_for(1ms);
      REQUIRE(parked.load() == 4);
      std::this_thread::sleep_for(10ms);  // let them reach their co_await
      rt.shutdown();
      CHECK(counted::alive == 0);
    }
    l.count_down();  // the destroyed waiters unlinked themselves: nobody is left to wake
    CHECK(l.try_wait());
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("async_latch::remaining counts down to zero") {
  coring::async_latch latch{3};
  CHECK(latch.remaining() == 3);
  latch.count_down();
  CHECK(latch.remaining() == 2);
  latch.count_down(2);
  CHECK(latch.remaining() == 0);
  CHECK(latch.try_wait());
  CHECK(coring::async_latch{0}.remaining() == 0);
}
