// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/task_group.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using coring::task_group;

TEST_CASE("a task group's join waits for every child on both pools") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> done{0};
  auto child = [&](int ms) -> task<int> {
    (void)co_await coring::sleep_for(std::chrono::milliseconds(ms));
    done.fetch_add(1);
    co_return ms;
  };
  auto body = [&]() -> task<void> {
    task_group group;
    for (int i = 0; i < 20; ++i) group.spawn(i % 2 ? rt.cpu() : rt.io(), child(i % 5));
    co_await group.join();
    CHECK(done.load() == 20);
  };
  rt.block_on(body());
}

TEST_CASE("a failing child cancels its siblings and join rethrows the first error") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> canceled{0};
  auto sleeper = [&]() -> task<void> {
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
  };
  auto failing = []() -> task<void> {
    (void)co_await coring::sleep_for(5ms);
    throw std::runtime_error("child failed");
  };
  auto body = [&]() -> task<std::string> {
    task_group group;
    for (int i = 0; i < 5; ++i) group.spawn(rt.io(), sleeper());
    group.spawn(rt.cpu(), failing());
    try {
      co_await group.join();
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "nothing thrown";
  };
  CHECK(rt.block_on(body()) == "child failed");
  CHECK(canceled.load() == 5);
}

TEST_CASE("a task group can be canceled as a whole, including children spawned later") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> canceled{0};
  auto sleeper = [&]() -> task<void> {
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    task_group group;
    for (int i = 0; i < 4; ++i) group.spawn(rt.cpu(), sleeper());
    (void)co_await coring::sleep_for(5ms);
    group.cancel();
    group.spawn(rt.io(), sleeper());  // canceled at once (may not even start)
    co_await group.join();
  };
  rt.block_on(body());
  CHECK(canceled.load() >= 4);
}

TEST_CASE("a task group runs at most max_concurrent children at once") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> ran{0};
  auto child = [&]() -> task<void> {
    const int now = inside.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    (void)co_await coring::sleep_for(2ms);
    inside.fetch_sub(1);
    ran.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    task_group group{{.max_concurrent = 3}};
    for (int i = 0; i < 30; ++i) group.spawn(i % 2 ? rt.cpu() : rt.io(), child());
    co_await group.join();
  };
  rt.block_on(body());
  CHECK(ran.load() == 30);
  CHECK(most.load() <= 3);
  CHECK(most.load() >= 1);
}

TEST_CASE("canceling the task that joins a group reaches the group's children") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::hour_sleepers s;
  std::atomic<bool> join_canceled{false};
  auto owner = [&]() -> task<void> {
    task_group group;
    for (int i = 0; i < 3; ++i) group.spawn(rt.io(), s.sleeper());
    try {
      co_await group.join();
    } catch (const std::system_error& e) {
      // join() is a cancellation point: once the children ended, it reports the stop.
      join_canceled = e.code() == std::errc::operation_canceled;
    }
  };
  rt.block_on(coring_test::cancel_once_asleep(rt.cpu(), owner(), s, 3));
  CHECK(s.canceled.load() == 3);
  CHECK(join_canceled.load());
}

TEST_CASE("destroying a task group that was not joined stops the children and reports an error") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::mutex m;
  std::vector<std::string> reported;
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::lock_guard lock(m);
      reported.emplace_back(ex.what());
    }
  });
  std::atomic<int> finished{0};
  auto sleeper = [&]() -> task<void> {
    (void)co_await coring::sleep_for(1h);
    finished.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    {
      task_group group;
      for (int i = 0; i < 3; ++i) group.spawn(rt.cpu(), sleeper());
      (void)co_await coring::sleep_for(2ms);
    }                                                                   // destroyed without join()
    while (finished.load() < 3) (void)co_await coring::sleep_for(1ms);  // they were stopped
  };
  rt.block_on(body());
  std::lock_guard lock(m);
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].find("not joined") != std::string::npos);
}

TEST_CASE("a task group with max_concurrent 0 is refused") {
  CHECK_THROWS_AS(task_group({.max_concurrent = 0}), std::invalid_argument);
}
