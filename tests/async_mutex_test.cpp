// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_mutex.hpp>
#include <coring/coring.hpp>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_mutex;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

using coring_test::block_until;
using coring_test::by_hand;
using coring_test::wait_until;

}  // namespace

TEST_CASE("async_mutex try_lock takes a free mutex and fails on a held one") {
  async_mutex m;
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("async_mutex lock of a free mutex does not suspend, and unlock frees it") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  auto body = [&]() -> task<void> {
    const auto before = std::this_thread::get_id();
    co_await m.lock();
    CHECK(std::this_thread::get_id() == before);
    CHECK_FALSE(m.try_lock());
    m.unlock();
    CHECK(m.try_lock());
    m.unlock();
  };
  rt.block_on(body());
}

TEST_CASE("async_mutex hands the lock to its waiters in FIFO order, without letting try_lock barge") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  std::vector<int> order;  // written only by the owner of m
  auto waiter = [&](int id) -> task<void> {
    co_await m.lock();
    order.push_back(id);
    m.unlock();
  };
  auto body = [&]() -> task<void> {
    co_await m.lock();
    // One io thread: the waiters run in spawn order and each parks on m; yield() runs after them.
    std::vector<coring::join_handle<void>> hs;
    for (int id = 0; id < 5; ++id) hs.push_back(coring::spawn(rt.io(), waiter(id)));
    co_await coring::yield();
    CHECK(order.empty());
    m.unlock();
    CHECK_FALSE(m.try_lock());  // the first waiter owns it now, before it even runs
    for (auto& h : hs) co_await h;
    CHECK(m.try_lock());
    m.unlock();
  };
  rt.block_on(body());
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("an async_mutex waiter on the CPU pool resumes there when an io task unlocks") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  std::atomic<bool> waiting{false};
  auto cpu_waiter = [&]() -> task<bool> {
    waiting = true;
    co_await m.lock();
    const bool on_cpu = rt.cpu().running_in_this_thread();
    m.unlock();
    co_return on_cpu;
  };
  auto body = [&]() -> task<void> {
    co_await m.lock();
    auto h = coring::spawn(rt.cpu(), cpu_waiter());
    co_await wait_until([&] { return waiting.load(); });
    (void)co_await coring::sleep_for(5ms);  // let it park
    CHECK(rt.io().running_in_this_thread());
    m.unlock();
    const bool on_cpu = co_await h;
    CHECK(on_cpu);
  };
  rt.block_on(body());
}

TEST_CASE("an async_mutex waiter on the io pool resumes there when a CPU task unlocks") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  std::atomic<bool> waiting{false};
  auto io_waiter = [&]() -> task<std::thread::id> {
    waiting = true;
    co_await m.lock();
    CHECK(rt.io().running_in_this_thread());
    m.unlock();
    co_return std::this_thread::get_id();
  };
  auto body = [&]() -> task<void> {
    const auto io_thread = std::this_thread::get_id();
    co_await coring::on(rt.cpu());
    co_await m.lock();
    auto h = coring::spawn(rt.io(), io_waiter());
    co_await wait_until([&] { return waiting.load(); });
    (void)co_await coring::sleep_for(5ms);  // let it park
    CHECK(rt.cpu().running_in_this_thread());
    m.unlock();
    const auto waiter_thread = co_await h;
    CHECK(waiter_thread == io_thread);  // one io thread
  };
  rt.block_on(body());
}

TEST_CASE("async_mutex scoped_lock returns a guard that unlocks at the end of its scope") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  auto body = [&]() -> task<void> {
    {
      auto guard = co_await m.scoped_lock();
      CHECK(guard.owns_lock());
      CHECK_FALSE(m.try_lock());
    }
    CHECK(m.try_lock());
    m.unlock();

    auto guard = co_await m.scoped_lock();
    async_mutex::lock_guard moved = std::move(guard);
    CHECK_FALSE(guard.owns_lock());
    CHECK(moved.owns_lock());
    moved.unlock();  // early
    CHECK_FALSE(moved.owns_lock());
    CHECK(m.try_lock());
    async_mutex::lock_guard adopted{m, std::adopt_lock};
    CHECK(adopted.owns_lock());
  };
  rt.block_on(body());
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("async_mutex scoped_lock's guard unlocks when an exception leaves its scope") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  auto throwing = [&]() -> task<void> {
    auto guard = co_await m.scoped_lock();
    co_await coring::on(rt.cpu());  // unlock from another pool than the one that locked
    throw std::runtime_error("while holding the lock");
  };
  auto body = [&]() -> task<void> {
    bool thrown = false;
    try {
      co_await throwing();
    } catch (const std::runtime_error&) {
      thrown = true;
    }
    CHECK(thrown);
    CHECK(m.try_lock());
    m.unlock();

    // The same with a waiter parked behind the throwing holder: it gets the lock.
    auto holder = co_await m.scoped_lock();
    auto h = coring::spawn(rt.cpu(), throwing());
    (void)co_await coring::sleep_for(5ms);
    holder.unlock();
    thrown = false;
    try {
      co_await h;
    } catch (const std::runtime_error&) {
      thrown = true;
    }
    CHECK(thrown);
    CHECK(m.try_lock());
    m.unlock();
  };
  rt.block_on(body());
}

TEST_CASE("async_mutex stress: 8 tasks on both pools increment a plain int 80,000 times") {
  runtime rt{coring_test::small_runtime()};
  async_mutex m;
  int counter = 0;  // guarded by m only
  auto worker = [&]() -> task<void> {
    for (int i = 1; i <= 10'000; ++i) {
      co_await m.lock();
      ++counter;
      if (i % 100 == 0) co_await coring::yield();
      m.unlock();
    }
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(coring::spawn(rt.io(), worker()));
      hs.push_back(coring::spawn(rt.cpu(), worker()));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(counter == 80'000);
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("shutdown destroys tasks parked on an async_mutex") {
  counted::alive = 0;
  async_mutex m;  // outlives the runtime and the tasks it destroys
  std::atomic<int> waiting{0};
  {
    runtime rt{coring_test::small_runtime()};
    auto parked = [&](counted) -> task<void> {
      waiting.fetch_add(1);
      co_await m.lock();
      FAIL("a parked task was resumed");
    };
    auto body = [&]() -> task<void> {
      co_await m.lock();  // never unlocked
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
  CHECK_FALSE(m.try_lock());  // still held by the body that finished
  CHECK(counted::alive == 0);
}
