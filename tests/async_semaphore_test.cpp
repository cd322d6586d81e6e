// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_semaphore.hpp>
#include <coring/coring.hpp>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_semaphore;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

using coring_test::block_until;
using coring_test::by_hand;
using coring_test::wait_until;

}  // namespace

TEST_CASE("async_semaphore try_acquire takes permits until none is left") {
  async_semaphore s{2};
  CHECK(s.available() == 2);
  CHECK(s.try_acquire());
  CHECK(s.try_acquire());
  CHECK_FALSE(s.try_acquire());
  CHECK(s.available() == 0);
  s.release();
  CHECK(s.available() == 1);
  CHECK(s.try_acquire());
  s.release(3);
  CHECK(s.available() == 3);
  s.release(0);
  CHECK(s.available() == 3);

  async_semaphore none{0};
  CHECK_FALSE(none.try_acquire());
}

TEST_CASE("async_semaphore acquire with a free permit does not suspend") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{1};
  auto body = [&]() -> task<void> {
    const auto before = std::this_thread::get_id();
    co_await s.acquire();
    CHECK(std::this_thread::get_id() == before);
    CHECK(s.available() == 0);
    CHECK_FALSE(s.try_acquire());
    s.release();
  };
  rt.block_on(body());
  CHECK(s.available() == 1);
}

TEST_CASE("async_semaphore hands permits to its waiters in FIFO order, without letting try_acquire barge") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{0};
  std::vector<int> order;  // touched by io-pool tasks only (one io thread)
  auto waiter = [&](int id) -> task<void> {
    co_await s.acquire();
    order.push_back(id);
  };
  auto body = [&]() -> task<void> {
    // One io thread: the waiters run in spawn order and each parks; yield() runs after them.
    std::vector<coring::join_handle<void>> hs;
    for (int id = 0; id < 5; ++id) hs.push_back(coring::spawn(rt.io(), waiter(id)));
    co_await coring::yield();
    CHECK(order.empty());
    for (int i = 0; i < 5; ++i) {
      s.release();
      CHECK_FALSE(s.try_acquire());  // the permit went to a waiter
      CHECK(s.available() == 0);
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(s.available() == 0);
}

TEST_CASE("async_semaphore release(n) wakes n waiters and counts the permits left over") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{0};
  int acquired = 0;  // io-pool tasks only (one io thread)
  auto waiter = [&]() -> task<void> {
    co_await s.acquire();
    ++acquired;
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 5; ++i) hs.push_back(coring::spawn(rt.io(), waiter()));
    co_await coring::yield();  // all five parked
    CHECK(acquired == 0);
    s.release(3);
    CHECK(s.available() == 0);
    co_await coring::yield();  // behind the three woken waiters
    CHECK(acquired == 3);
    s.release(4);  // two waiters left: two permits remain
    CHECK(s.available() == 2);
    for (auto& h : hs) co_await h;
    CHECK(acquired == 5);
  };
  rt.block_on(body());
  CHECK(s.available() == 2);
}

TEST_CASE("async_semaphore waiters resume on their own pool whichever pool releases") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{0};
  std::atomic<int> waiting{0};
  auto cpu_waiter = [&]() -> task<bool> {
    waiting.fetch_add(1);
    co_await s.acquire();
    co_return rt.cpu().running_in_this_thread();
  };
  auto io_waiter = [&]() -> task<bool> {
    waiting.fetch_add(1);
    co_await s.acquire();
    co_return rt.io().running_in_this_thread();
  };
  auto body = [&]() -> task<void> {
    // Released from the io pool, waited on the CPU pool.
    auto c = coring::spawn(rt.cpu(), cpu_waiter());
    co_await wait_until([&] { return waiting.load() == 1; });
    (void)co_await coring::sleep_for(5ms);  // let it park
    s.release();
    const bool cpu_ok = co_await c;
    CHECK(cpu_ok);

    // Released from the CPU pool, waited on the io pool.
    co_await coring::on(rt.cpu());
    auto i = coring::spawn(rt.io(), io_waiter());
    co_await wait_until([&] { return waiting.load() == 2; });
    (void)co_await coring::sleep_for(5ms);
    CHECK(rt.cpu().running_in_this_thread());
    s.release();
    const bool io_ok = co_await i;
    CHECK(io_ok);
  };
  rt.block_on(body());
}

TEST_CASE("async_semaphore(3) lets at most 3 of 50 tasks on both pools in at once") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{3};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> ran{0};
  auto worker = [&](int i) -> task<void> {
    co_await s.acquire();
    const int now = inside.fetch_add(1) + 1;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    if (i % 2 == 0) {
      (void)co_await coring::sleep_for(1ms);
    } else {
      co_await coring::yield();
    }
    inside.fetch_sub(1);
    ran.fetch_add(1);
    s.release();
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 50; ++i) hs.push_back(coring::spawn(i % 2 ? rt.cpu() : rt.io(), worker(i / 2)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(ran == 50);
  CHECK(most <= 3);
  CHECK(most >= 1);
  CHECK(inside == 0);
  CHECK(s.available() == 3);
}

TEST_CASE("shutdown destroys tasks parked on an async_semaphore") {
  counted::alive = 0;
  async_semaphore s{0};  // outlives the runtime and the tasks it destroys
  std::atomic<int> waiting{0};
  {
    runtime rt{coring_test::small_runtime()};
    auto parked = [&](counted) -> task<void> {
      waiting.fetch_add(1);
      co_await s.acquire();
      FAIL("a parked task was resumed");
    };
    auto body = [&]() -> task<void> {
      for (int i = 0; i < 3; ++i) {
        coring::spawn(rt.io(), parked(counted{})).detach();
        coring::spawn(rt.cpu(), parked(counted{})).detach();
      }
      co_await wait_until([&] { return waiting.load() == 6; });
      (void)co_await coring::sleep_for(5ms);  // let them park
    };
    rt.block_on(body());
    CHECK(counted::alive == 6);
    rt.shutdown();
    CHECK(counted::alive == 0);
  }
  CHECK(s.available() == 0);
  s.release();  // the destroyed waiters left the queue: the permit is counted
  CHECK(s.available() == 1);
  CHECK(counted::alive == 0);
}

TEST_CASE("a bounded async_semaphore refuses a release beyond its maximum and releases nothing") {
  async_semaphore s{1, 2};
  CHECK(s.maximum() == 2);
  s.release();
  CHECK(s.available() == 2);
  CHECK_THROWS_AS(s.release(), std::overflow_error);
  CHECK(s.available() == 2);
  CHECK(s.try_acquire());
  CHECK_THROWS_AS(s.release(2), std::overflow_error);  // 1 + 2 > 2: none of the two is added
  CHECK(s.available() == 1);
  s.release();
  CHECK(s.available() == 2);

  CHECK(async_semaphore{5}.maximum() == async_semaphore::max_permits);
  CHECK_THROWS_AS(async_semaphore(3, 2), std::invalid_argument);
  CHECK_THROWS_AS(async_semaphore(0, 0), std::invalid_argument);
  CHECK_THROWS_AS(async_semaphore(0, async_semaphore::max_permits + 1), std::invalid_argument);
  CHECK_NOTHROW(async_semaphore(2, 2));
}

TEST_CASE("a bounded async_semaphore hands permits to waiters first and counts only the rest") {
  runtime rt{coring_test::small_runtime()};
  async_semaphore s{0, 1};
  std::atomic<int> acquired{0};
  auto waiter = [&]() -> task<void> {
    co_await s.acquire();
    acquired.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 2; ++i) hs.push_back(coring::spawn(rt.io(), waiter()));
    co_await coring::yield();                            // both parked (one io thread)
    CHECK_THROWS_AS(s.release(4), std::overflow_error);  // 2 to waiters, 2 left > 1
    CHECK(s.available() == 0);
    s.release(3);  // 2 to waiters, 1 left: allowed
    for (auto& h : hs) co_await h;
    CHECK(acquired.load() == 2);
    CHECK(s.available() == 1);
  };
  rt.block_on(body());
}
