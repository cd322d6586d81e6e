// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_condition_variable.hpp>
#include <coring/async_mutex.hpp>
#include <coring/coring.hpp>
#include <deque>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_condition_variable;
using coring::async_mutex;
using coring::runtime;
using coring::task;
using coring_test::block_until;
using coring_test::by_hand;

namespace {

task<void> wait_then_note(async_mutex& m, async_condition_variable& cv, std::vector<int>& order, int id) {
  auto g = co_await m.scoped_lock();
  co_await cv.wait(g);
  CHECK(g.owns_lock());
  order.push_back(id);
}

}  // namespace

TEST_CASE("notify_one wakes the longest-waiting task, notify_all every one, each holding the mutex again") {
  async_mutex m;
  async_condition_variable cv;
  std::vector<int> order;
  by_hand a(wait_then_note(m, cv, order, 1));
  by_hand b(wait_then_note(m, cv, order, 2));
  by_hand c(wait_then_note(m, cv, order, 3));
  CHECK(m.try_lock());  // every waiter released the mutex while it waits
  m.unlock();
  cv.notify_one();
  CHECK(order == std::vector<int>{1});
  CHECK(a.done());
  CHECK_FALSE(b.done());
  cv.notify_all();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(c.done());
  cv.notify_one();  // nobody waits: nothing happens
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("a notified waiter does not return before it holds the mutex again") {
  async_mutex m;
  async_condition_variable cv;
  std::vector<int> order;
  by_hand a(wait_then_note(m, cv, order, 1));
  REQUIRE(m.try_lock());  // the notifier holds the mutex
  cv.notify_one();
  CHECK_FALSE(a.done());  // woken, waiting for the mutex
  m.unlock();
  CHECK(a.done());
  CHECK(order == std::vector<int>{1});
}

TEST_CASE("async_condition_variable::wait with a guard that owns nothing throws logic_error") {
  runtime rt{coring_test::small_runtime()};
  async_condition_variable cv;
  auto body = [&]() -> task<bool> {
    async_mutex::lock_guard empty;
    try {
      co_await cv.wait(empty);
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("a canceled condition wait reports operation_canceled only once it holds the mutex again") {
  runtime rt{coring_test::small_runtime()};
  for (auto ex : {rt.io(), rt.cpu()}) {
    async_mutex m;
    async_condition_variable cv;
    std::atomic<bool> parked{false};
    std::atomic<bool> owned_when_canceled{false};
    auto waiter = [&]() -> task<void> {
      auto g = co_await m.scoped_lock();
      parked.store(true);
      try {
        co_await cv.wait(g);
      } catch (const std::system_error& e) {
        owned_when_canceled.store(g.owns_lock() && !m.try_lock() &&
                                  e.code() == std::errc::operation_canceled);
      }
    };
    auto h = coring::spawn(ex, waiter());
    block_until([&] { return parked.load(); });
    std::this_thread::sleep_for(10ms);
    REQUIRE(m.try_lock());  // the waiter released it; now the test holds it
    h.cancel();
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(h.done());  // canceled, but waiting to relock
    m.unlock();
    block_until([&] { return h.done(); });
    CHECK(owned_when_canceled.load());
    CHECK(m.try_lock());  // the guard unlocked it at the end
    m.unlock();
  }
}

TEST_CASE("condition waits with a predicate under contention from both pools consume every item once") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  async_condition_variable cv;
  std::deque<int> queue;  // under m
  bool done = false;      // under m
  std::atomic<long> sum{0};
  std::atomic<int> taken{0};
  constexpr int producers = 4;
  constexpr int per_producer = 200;
  auto consumer = [&]() -> task<void> {
    for (;;) {
      auto g = co_await m.scoped_lock();
      co_await cv.wait(g, [&] { return !queue.empty() || done; });
      if (queue.empty()) co_return;  // done and drained
      sum.fetch_add(queue.front());
      queue.pop_front();
      taken.fetch_add(1);
    }
  };
  auto producer = [&](int base) -> task<void> {
    for (int i = 0; i < per_producer; ++i) {
      {
        auto g = co_await m.scoped_lock();
        queue.push_back(base + i);
      }
      cv.notify_one();
      if (i % 16 == 0) co_await coring::yield();
    }
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> cs;
    for (int i = 0; i < 4; ++i) cs.push_back(coring::spawn(i % 2 ? rt.cpu() : rt.io(), consumer()));
    std::vector<coring::join_handle<void>> ps;
    for (int i = 0; i < producers; ++i) {
      ps.push_back(coring::spawn(i % 2 ? rt.io() : rt.cpu(), producer(i * per_producer)));
    }
    for (auto& p : ps) co_await p;
    {
      auto g = co_await m.scoped_lock();
      done = true;
    }
    cv.notify_all();
    for (auto& c : cs) co_await c;
  };
  rt.block_on(body());
  constexpr long n = producers * per_producer;
  CHECK(taken.load() == n);
  CHECK(sum.load() == n * (n - 1) / 2);
}

TEST_CASE("shutdown destroys tasks waiting on a condition variable without unlocking their mutex twice") {
  coring_test::counted::alive = 0;
  async_mutex m;
  async_condition_variable cv;
  std::atomic<int> waiting{0};
  {
    runtime rt{coring_test::small_runtime()};
    auto parked = [&](coring_test::counted) -> task<void> {
      auto g = co_await m.scoped_lock();
      waiting.fetch_add(1);
      co_await cv.wait(g);
      FAIL("a parked task was resumed");
    };
    for (int i = 0; i < 4; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), parked({})).detach();
    block_until([&] { return waiting.load() == 4; });
    std::this_thread::sleep_for(10ms);
  }
  CHECK(coring_test::counted::alive.load() == 0);
  CHECK(m.try_lock());  // free, and not unlocked below zero by a destroyed guard
  m.unlock();
}

TEST_CASE("a condition variable may be destroyed as soon as its notified waiter returned") {
  for (int i = 0; i < 300; ++i) {
    auto* cv = new async_condition_variable;
    async_mutex m;
    std::atomic<bool> back{false};
    by_hand waiter([](async_mutex& mu, async_condition_variable& c, std::atomic<bool>& b) -> task<void> {
      auto g = co_await mu.scoped_lock();
      co_await c.wait(g);
      b.store(true);
    }(m, *cv, back));
    std::thread notifier([cv] { cv->notify_one(); });
    while (!back.load()) std::this_thread::yield();
    delete cv;  // notify_one() may still be on its way out
    notifier.join();
    CHECK(waiter.done());
  }
}
