// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_event.hpp>
#include <coring/coring.hpp>
#include <coroutine>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_event;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

using coring_test::block_until;
using coring_test::by_hand;
using coring_test::wait_until;

}  // namespace

TEST_CASE("async_event wait after set does not suspend") {
  async_event e;
  CHECK_FALSE(e.is_set());
  e.set();
  CHECK(e.is_set());
  CHECK(e.wait().await_ready());
  auto waiter = [&]() -> task<void> { co_await e.wait(); };
  by_hand w(waiter());
  CHECK(w.done());  // ran to the end inside its first resume

  async_event initially_set{true};
  CHECK(initially_set.is_set());
  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<void> {
    const auto before = std::this_thread::get_id();
    co_await e.wait();
    co_await initially_set.wait();
    CHECK(std::this_thread::get_id() == before);
  };
  rt.block_on(body());
}

TEST_CASE("async_event wait suspends until set, and set wakes waiters parked before a reset") {
  async_event e;
  auto waiter = [&]() -> task<void> { co_await e.wait(); };
  by_hand a(waiter());
  by_hand b(waiter());
  CHECK_FALSE(a.done());
  CHECK_FALSE(b.done());
  e.set();
  e.reset();
  CHECK(a.done());
  CHECK(b.done());
  CHECK_FALSE(e.is_set());
}

TEST_CASE("async_event set wakes every waiter, each on its own pool") {
  runtime rt{coring_test::small_runtime()};
  async_event e;
  std::atomic<int> started{0};
  auto waiter = [&](coring::executor home) -> task<bool> {
    started.fetch_add(1);
    co_await e.wait();
    co_return home.running_in_this_thread();
  };
  auto body = [&]() -> task<int> {
    std::vector<coring::join_handle<bool>> hs;
    for (int i = 0; i < 8; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      hs.push_back(coring::spawn(ex, waiter(ex)));
    }
    co_await wait_until([&] { return started.load() == 8; });
    (void)co_await coring::sleep_for(5ms);
    for (auto& h : hs) CHECK_FALSE(h.done());
    co_await coring::on(rt.cpu());
    e.set();
    int on_own_pool = 0;
    for (auto& h : hs) on_own_pool += co_await h ? 1 : 0;
    co_return on_own_pool;
  };
  CHECK(rt.block_on(body()) == 8);
}

TEST_CASE("async_event reset makes later waits suspend until the next set") {
  runtime rt{coring_test::small_runtime()};
  async_event e;
  auto waiter = [&]() -> task<bool> {
    co_await e.wait();
    co_return rt.cpu().running_in_this_thread();
  };
  auto body = [&]() -> task<void> {
    e.set();
    e.reset();
    CHECK_FALSE(e.is_set());
    CHECK_FALSE(e.wait().await_ready());
    auto h = coring::spawn(rt.cpu(), waiter());
    (void)co_await coring::sleep_for(10ms);
    CHECK_FALSE(h.done());
    e.set();
    CHECK(co_await h);
    e.set();  // idempotent
    CHECK(e.is_set());
  };
  rt.block_on(body());
}

TEST_CASE("shutdown destroys tasks parked on an async_event wait, and the event stays usable") {
  counted::alive = 0;
  std::atomic<int> parked{0};
  {
    async_event e;  // outlives the runtime
    {
      runtime rt{coring_test::small_runtime()};
      auto waiter = [&](counted) -> task<void> {
        parked.fetch_add(1);
        co_await e.wait();
        FAIL("the wait must never complete");
      };
      for (int i = 0; i < 6; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), waiter(counted{})).detach();
      for (int i = 0; i < 5000 && parked.load() < 6; ++i) std::this_thread::sleep_for(1ms);
      REQUIRE(parked.load() == 6);
      std::this_thread::sleep_for(10ms);  // let them reach their co_await
      rt.shutdown();
      CHECK(counted::alive == 0);
    }
    e.set();  // the destroyed waiters unlinked themselves: nobody is left to wake
    CHECK(e.is_set());
  }
  CHECK(counted::alive == 0);
}
