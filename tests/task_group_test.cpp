// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/task_group.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <variant>
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
  std::atomic<int> asleep{0};
  auto sleeper = [&]() -> task<void> {
    asleep.fetch_add(1);
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    task_group group;
    for (int i = 0; i < 4; ++i) group.spawn(rt.cpu(), sleeper());
    // Until all four started (a loaded machine may take longer than any fixed delay).
    while (asleep.load() < 4) (void)co_await coring::sleep_for(1ms);
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
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  auto sleeper = [&]() -> task<void> {
    started.fetch_add(1);
    (void)co_await coring::sleep_for(1h);
    finished.fetch_add(1);
  };
  auto body = [&]() -> task<void> {
    {
      task_group group;
      for (int i = 0; i < 3; ++i) group.spawn(rt.cpu(), sleeper());
      // Every child runs (a child stopped before it started would never count as finished).
      while (started.load() < 3) (void)co_await coring::sleep_for(1ms);
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

namespace {

/// Children that each wait for their own event, so that the test decides the order they finish in.
struct gates {
  explicit gates(int count) : events(static_cast<std::size_t>(count)) {}
  std::vector<coring::async_event> events;

  std::atomic<int> started{0};

  /// Waits for its event (a stop may also end the wait, where waits are cancellation points).
  task<void> wait_for(int i) {
    try {
      (void)co_await events[static_cast<std::size_t>(i)].wait();
    } catch (const std::system_error&) {
    }
  }
  task<int> child(int i) {
    started.fetch_add(1);
    co_await wait_for(i);
    co_return i * 10;
  }
};

std::string failure_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& ex) {
    return ex.code() == std::errc::operation_canceled ? "canceled" : ex.what();
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

}  // namespace

TEST_CASE("join_next gives each child's value in the order the children finish, on both pools") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    gates g{4};
    auto body = [&]() -> task<std::vector<int>> {
      co_await coring::on(ex);
      coring::basic_task_group<int> group;
      for (int i = 0; i < 4; ++i) group.spawn(ex, g.child(i));
      CHECK(group.size() == 4);
      std::vector<int> order;
      for (int i : {2, 0, 3, 1}) {
        g.events[static_cast<std::size_t>(i)].set();
        std::optional<int> value = co_await group.join_next();
        REQUIRE(value.has_value());
        order.push_back(*value);
      }
      CHECK(group.size() == 0);
      CHECK_FALSE((co_await group.join_next()).has_value());
      co_return order;
    };
    CHECK(rt.block_on(body()) == std::vector<int>{20, 0, 30, 10});
  }
}

TEST_CASE("join_next rethrows a child's exception for that child only, and the others go on") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::hour_sleepers s;
  auto failing = [&]() -> task<int> {
    while (s.asleep.load() < 2) (void)co_await coring::sleep_for(1ms);
    throw std::runtime_error("child failed");
  };
  auto stopped = [&]() -> task<int> {
    co_await s.sleeper();  // the first failure stops it; it still ends with a value
    co_return 5;
  };
  auto body = [&]() -> task<std::vector<std::string>> {
    coring::basic_task_group<int> group;
    group.spawn(rt.io(), stopped());
    group.spawn(rt.cpu(), stopped());
    group.spawn(rt.cpu(), failing());
    std::vector<std::string> seen;
    for (;;) {
      try {
        std::optional<int> value = co_await group.join_next();
        if (!value) break;
        seen.push_back(std::to_string(*value));
      } catch (...) {
        seen.push_back(failure_of(std::current_exception()));
      }
    }
    co_await group.join();  // nothing left: nothing rethrown
    co_return seen;
  };
  CHECK(rt.block_on(body()) == std::vector<std::string>{"child failed", "5", "5"});
  CHECK(s.canceled.load() == 2);
}

TEST_CASE("join_next on a task_group of void children gives monostate, and nullopt when empty") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto body = [&]() -> task<int> {
    task_group group;
    CHECK_FALSE((co_await group.join_next()).has_value());  // empty: at once
    auto nothing = []() -> task<void> { co_return; };
    auto number = []() -> task<int> { co_return 3; };  // task_group discards values
    group.spawn(rt.cpu(), nothing());
    group.spawn(rt.io(), number());
    int count = 0;
    while (std::optional<std::monostate> done = co_await group.join_next()) ++count;
    co_return count;
  };
  CHECK(rt.block_on(body()) == 2);
}

TEST_CASE("join after join_next takes the rest: the first remaining failure is rethrown") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::mutex m;
  std::vector<std::string> reported;
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    std::lock_guard lock(m);
    reported.push_back(failure_of(e));
  });
  gates g{2};
  auto fails_when_open = [&](int i, std::string what) -> task<int> {
    g.started.fetch_add(1);
    co_await g.wait_for(i);
    throw std::runtime_error(what);
  };
  auto body = [&]() -> task<std::string> {
    coring::basic_task_group<int> group;
    group.spawn(rt.io(), fails_when_open(0, "taken by join_next"));
    group.spawn(rt.cpu(), fails_when_open(1, "left for join"));
    while (g.started.load() < 2) (void)co_await coring::sleep_for(1ms);  // a stop cannot unstart it
    g.events[0].set();
    try {
      (void)co_await group.join_next();
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "taken by join_next");
    }
    g.events[1].set();  // the first failure asked it to stop: wait_for() ends either way, then it throws
    try {
      co_await group.join();
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "nothing thrown";
  };
  CHECK(rt.block_on(body()) == "left for join");
  std::lock_guard lock(m);
  CHECK(reported.empty());  // each failure was taken once: nothing for the handler
}

TEST_CASE("a child canceled before it started makes join_next throw operation_canceled") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto body = [&]() -> task<std::vector<std::string>> {
    coring::basic_task_group<int> group{{.max_concurrent = 1}};
    gates g{1};
    group.spawn(rt.cpu(), g.child(0));  // holds the only slot
    while (g.started.load() < 1) (void)co_await coring::sleep_for(1ms);
    group.spawn(rt.io(), g.child(0));  // waits for the slot
    group.cancel();
    group.spawn(rt.cpu(), g.child(0));  // canceled at once
    std::vector<std::string> seen;
    for (int i = 0; i < 2; ++i) {  // the two that never start end first, without waiting
      try {
        seen.push_back(std::to_string((co_await group.join_next()).value()));
      } catch (...) {
        seen.push_back(failure_of(std::current_exception()));
      }
    }
    g.events[0].set();  // the first child ends with its value (its wait ends with the stop, or now)
    seen.push_back(std::to_string((co_await group.join_next()).value()));
    CHECK_FALSE((co_await group.join_next()).has_value());
    // Empty again, and no longer canceled.
    group.spawn(rt.io(), g.child(0));
    seen.push_back(std::to_string((co_await group.join_next()).value()));
    co_return seen;
  };
  const std::vector<std::string> seen = rt.block_on(body());
  REQUIRE(seen.size() == 4);
  CHECK(seen[0] == "canceled");
  CHECK(seen[1] == "canceled");
  CHECK(seen[3] == "0");
}

TEST_CASE("join_next keeps up with short children behind a long one, and size counts what is left") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::hour_sleepers s;
  auto long_one = [&]() -> task<int> {
    co_await s.sleeper();
    co_return -1;
  };
  auto short_one = [](int i) -> task<int> { co_return i; };
  auto body = [&]() -> task<long> {
    coring::basic_task_group<int> group;
    group.spawn(rt.io(), long_one());
    long sum = 0;
    for (int round = 0; round < 10; ++round) {
      for (int i = 1; i <= 100; ++i) group.spawn(round % 2 ? rt.io() : rt.cpu(), short_one(i));
      for (int i = 0; i < 100; ++i) sum += (co_await group.join_next()).value();
      CHECK(group.size() == 1);
    }
    group.cancel();
    sum += (co_await group.join_next()).value();
    CHECK(group.size() == 0);
    co_return sum;
  };
  CHECK(rt.block_on(body()) == 10 * 5050 - 1);
}

TEST_CASE("canceling the task in join_next reaches the group's children") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::hour_sleepers s;
  auto owner = [&]() -> task<void> {
    task_group group;
    for (int i = 0; i < 3; ++i) group.spawn(i == 1 ? rt.cpu() : rt.io(), s.sleeper());
    while (co_await group.join_next()) {
    }
  };
  rt.block_on(coring_test::cancel_once_asleep(rt.cpu(), owner(), s, 3));
  CHECK(s.canceled.load() == 3);
}

TEST_CASE("destroying a group with finished children not taken reports their exceptions too") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::mutex m;
  std::vector<std::string> reported;
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    std::lock_guard lock(m);
    reported.push_back(failure_of(e));
  });
  auto failing = []() -> task<int> {
    throw std::runtime_error("never taken");
    co_return 0;
  };
  auto body = [&]() -> task<void> {
    coring::basic_task_group<int> group;
    group.spawn(rt.cpu(), failing());
    // Until only this task is alive: the child ended, its outcome waits in the group.
    for (int i = 0; i < 5000 && rt.metrics().tasks_alive > 1; ++i) (void)co_await coring::sleep_for(1ms);
    CHECK(rt.metrics().tasks_alive == 1);
  };  // the group is destroyed here, its outcome not taken
  rt.block_on(body());
  std::lock_guard lock(m);
  std::sort(reported.begin(), reported.end());
  CHECK(reported ==
        std::vector<std::string>{"coring::task_group destroyed with children not joined", "never taken"});
}
