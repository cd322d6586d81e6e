// SPDX-License-Identifier: MIT
// coring::when_all_ready (every outcome, no fail-fast) and when_all over any range of tasks.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/outcome.hpp>
#include <coring/when_all.hpp>
#include <coring/when_all_ready.hpp>
#include <list>
#include <ranges>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::outcome;
using coring::runtime;
using coring::task;
using coring_test::small_runtime;

namespace {

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

task<int> value_after(int value, std::chrono::milliseconds delay) {
  auto r = co_await coring::sleep_for(delay);
  if (!r) throw std::system_error(r.error());  // a stopped sibling would end here
  co_return value;
}

task<int> fail_after(std::chrono::milliseconds delay) {
  (void)co_await coring::sleep_for(delay);
  throw boom{};
}

template <class T>
bool holds_boom(const outcome<T>& o) {
  try {
    (void)o.value();
  } catch (const boom&) {
    return true;
  } catch (...) {
  }
  return false;
}

}  // namespace

TEST_CASE("when_all_ready over a pack gives every outcome and a failure does not stop the siblings") {
  runtime rt{small_runtime()};
  std::atomic<int> reported{0};
  rt.set_unhandled_exception_handler([&](std::exception_ptr) { reported.fetch_add(1); });
  auto nothing = []() -> task<void> { co_return; };
  auto failing_void = []() -> task<void> {
    throw boom{};
    co_return;
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      auto [a, b, c, d, e, f] =
          co_await coring::when_all_ready(value_after(1, 0ms), fail_after(0ms), value_after(3, 30ms),
                                          nothing(), failing_void(), fail_after(5ms));
      CHECK(where.running_in_this_thread());
      REQUIRE(a);
      CHECK(*a == 1);
      CHECK_FALSE(b);
      CHECK(b.error() != nullptr);
      CHECK(holds_boom(b));
      REQUIRE(c.has_value());  // the slow sibling was not stopped by b's failure
      CHECK(c.value() == 3);
      CHECK(d);
      CHECK_NOTHROW(d.value());
      CHECK_FALSE(e);
      CHECK_THROWS_AS(e.value(), boom);
      CHECK(holds_boom(f));
      // Any awaitable, awaited in place.
      auto [slept] = co_await coring::when_all_ready(coring::sleep_for(1ms));
      CHECK(slept.value().has_value());
    };
    rt.block_on(body());
  }
  CHECK(reported.load() == 0);  // every failure went to its outcome, none to the handler
}

TEST_CASE("when_all_ready over ranges: a vector, a std::list and a transformed array, in order") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      std::vector<task<int>> vec;
      for (int i = 0; i < 10; ++i)
        vec.push_back(i % 3 == 1 ? fail_after(1ms) : value_after(i, std::chrono::milliseconds(i % 4)));
      std::vector<outcome<int>> from_vec = co_await coring::when_all_ready(std::move(vec));
      REQUIRE(from_vec.size() == 10);
      for (int i = 0; i < 10; ++i) {
        if (i % 3 == 1) {
          CHECK(holds_boom(from_vec[i]));
        } else {
          CHECK(from_vec[i].value() == i);
        }
      }

      std::list<task<int>> list;
      list.push_back(value_after(1, 2ms));
      list.push_back(fail_after(0ms));
      list.push_back(value_after(3, 0ms));
      auto from_list = co_await coring::when_all_ready(list);
      REQUIRE(from_list.size() == 3);
      CHECK(*from_list[0] == 1);
      CHECK(holds_boom(from_list[1]));
      CHECK(*from_list[2] == 3);
      CHECK_FALSE(list.front().valid());  // the tasks were taken out of the list

      std::array<int, 4> inputs{4, 5, 6, 7};
      auto make = [](int i) { return i == 6 ? fail_after(0ms) : value_after(i, 1ms); };
      auto from_view = co_await coring::when_all_ready(inputs | std::views::transform(make));
      REQUIRE(from_view.size() == 4);
      CHECK(*from_view[0] == 4);
      CHECK(*from_view[1] == 5);
      CHECK(holds_boom(from_view[2]));
      CHECK(*from_view[3] == 7);
      CHECK(where.running_in_this_thread());

      auto none = co_await coring::when_all_ready(std::vector<task<int>>{});
      CHECK(none.empty());
      std::list<task<int>> with_empty;
      with_empty.emplace_back();
      CHECK_THROWS_AS((void)co_await coring::when_all_ready(with_empty), std::invalid_argument);
    };
    rt.block_on(body());
  }
}

TEST_CASE("when_all over a std::list and a transformed array gives the values, or the first failure") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      std::list<task<int>> list;
      for (int i = 0; i < 5; ++i) list.push_back(value_after(i, std::chrono::milliseconds(i)));
      std::vector<int> values = co_await coring::when_all(list);
      CHECK(values == std::vector<int>{0, 1, 2, 3, 4});

      std::array<int, 3> inputs{1, 2, 3};
      auto doubled = co_await coring::when_all(
          inputs | std::views::transform([](int i) { return value_after(2 * i, 0ms); }));
      CHECK(doubled == std::vector<int>{2, 4, 6});

      std::list<task<int>> failing;
      failing.push_back(value_after(1, 1h));  // stopped by the failure: when_all fails fast
      failing.push_back(fail_after(1ms));
      CHECK_THROWS_AS((void)co_await coring::when_all(failing), boom);
    };
    rt.block_on(body());
  }
}

TEST_CASE("a stop request for the task awaiting when_all_ready reaches every child; each outcome says so") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    coring_test::hour_sleepers sleepers;
    std::vector<outcome<int>> outcomes;
    auto sleeper = [&]() -> task<int> {
      co_await sleepers.sleeper();
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    };
    auto parent = [&]() -> task<void> {
      std::vector<task<int>> children;
      for (int i = 0; i < 3; ++i) children.push_back(sleeper());
      outcomes = co_await coring::when_all_ready(std::move(children));
    };
    auto test = [&]() -> task<void> {
      co_await coring_test::cancel_once_asleep(where, parent(), sleepers, 3);
    };
    rt.block_on(test());
    CHECK(sleepers.canceled.load() == 3);
    REQUIRE(outcomes.size() == 3);
    for (auto& o : outcomes) {
      CHECK_FALSE(o);
      CHECK_THROWS_AS(o.value(), std::system_error);
    }
  }
}
