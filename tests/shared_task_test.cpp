// SPDX-License-Identifier: MIT
// coring::shared_task: awaited by many, runs once, one result for all.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_event.hpp>
#include <coring/coring.hpp>
#include <coring/shared_task.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::shared_task;
using coring::task;
using coring_test::counted;
using coring_test::small_runtime;

namespace {

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

}  // namespace

TEST_CASE(
    "a shared_task runs once, on its first await, and 8 concurrent awaiters on both pools get its result") {
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  std::atomic<int> runs{0};
  auto compute = [&]() -> shared_task<std::string> {
    runs.fetch_add(1);
    (void)co_await coring::sleep_for(20ms);
    co_return std::string(100, 'x');
  };
  auto shared = compute();
  auto test = [&]() -> task<void> {
    (void)co_await coring::sleep_for(5ms);
    CHECK(runs.load() == 0);  // lazy: nothing ran before the first co_await
    std::atomic<const std::string*> address{nullptr};
    auto awaiter = [&](coring::executor where, shared_task<std::string> copy) -> task<bool> {
      co_await coring::on(where);
      const std::string& value = co_await copy;
      const std::string* expected = nullptr;
      // Every awaiter of an lvalue handle sees the same object.
      if (!address.compare_exchange_strong(expected, &value)) CHECK(expected == &value);
      co_return value == std::string(100, 'x') && where.running_in_this_thread();
    };
    std::vector<coring::join_handle<bool>> handles;
    for (int i = 0; i < 8; ++i)
      handles.push_back(
          coring::spawn(i % 2 ? rt.io() : rt.cpu(), awaiter(i % 2 ? rt.io() : rt.cpu(), shared)));
    for (auto& h : handles) CHECK(co_await h);
    CHECK(shared.done());
    CHECK(co_await shared == std::string(100, 'x'));               // finished: does not suspend
    std::string copy = co_await shared_task<std::string>(shared);  // an rvalue gives a copy
    CHECK(copy.size() == 100);
  };
  rt.block_on(test());
  CHECK(runs.load() == 1);
}

TEST_CASE("an exception thrown by a shared_task is rethrown to every awaiter") {
  runtime rt{small_runtime()};
  std::atomic<int> runs{0};
  auto failing = [&]() -> shared_task<int> {
    runs.fetch_add(1);
    (void)co_await coring::sleep_for(10ms);
    throw boom{};
  };
  auto shared = failing();
  std::atomic<int> thrown{0};
  auto awaiter = [&](coring::executor where) -> task<void> {
    co_await coring::on(where);
    try {
      (void)co_await shared;
    } catch (const boom&) {
      CHECK(where.running_in_this_thread());
      thrown.fetch_add(1);
    }
  };
  auto test = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> handles;
    for (int i = 0; i < 8; ++i)
      handles.push_back(coring::spawn(rt.cpu(), awaiter(i % 2 ? rt.io() : rt.cpu())));
    for (auto& h : handles) co_await h;
    CHECK_THROWS_AS((void)co_await shared, boom);  // and to a late awaiter
  };
  rt.block_on(test());
  CHECK(thrown.load() == 8);
  CHECK(runs.load() == 1);
}

TEST_CASE("a canceled awaiter of a shared_task stops waiting; the shared work goes on for the others") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    coring::async_event go;
    std::atomic<int> runs{0};
    std::atomic<int> waiting{0};
    auto work = [&]() -> shared_task<int> {
      runs.fetch_add(1);
      co_await go.wait();
      co_return 7;
    };
    auto shared = work();
    auto awaiter = [&]() -> task<int> {
      waiting.fetch_add(1);
      co_return co_await shared;
    };
    auto test = [&]() -> task<void> {
      auto canceled = coring::spawn(where, awaiter());
      auto kept = coring::spawn(where, awaiter());
      co_await coring_test::wait_until([&] { return waiting.load() == 2 && runs.load() == 1; });
      (void)co_await coring::sleep_for(2ms);  // both parked on the shared_task
      canceled.cancel();
      try {
        (void)co_await canceled;
        FAIL("the canceled awaiter should end with operation_canceled");
      } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_canceled);
      }
      CHECK_FALSE(shared.done());
      go.set();
      CHECK(co_await kept == 7);
    };
    rt.block_on(test());
    CHECK(runs.load() == 1);
  }
}

TEST_CASE("a shared_task of void or of a reference, and misuse") {
  runtime rt{small_runtime()};
  int target = 1;
  std::atomic<int> runs{0};
  auto nothing = [&]() -> shared_task<> {
    runs.fetch_add(1);
    co_return;
  };
  auto refer = [&]() -> shared_task<int&> { co_return target; };
  auto test = [&]() -> task<void> {
    auto once = nothing();
    co_await once;
    co_await once;
    auto r = refer();
    int& a = co_await r;
    CHECK(&a == &target);
    shared_task<int> empty;
    CHECK_THROWS_AS((void)co_await empty, std::logic_error);
  };
  rt.block_on(test());
  CHECK(runs.load() == 1);
}

TEST_CASE("a shared_task never awaited never runs and its frame goes with the last handle") {
  counted::alive = 0;
  std::atomic<int> runs{0};
  {
    auto make = [&](counted) -> shared_task<int> {
      runs.fetch_add(1);
      co_return 1;
    };
    auto first = make(counted{});
    auto second = first;
    CHECK(counted::alive.load() == 1);
    first = shared_task<int>{};
    CHECK(counted::alive.load() == 1);
  }
  CHECK(counted::alive.load() == 0);
  CHECK(runs.load() == 0);
}

TEST_CASE("a runtime shut down while a shared_task's body waits destroys it, its runner and its awaiters") {
  counted::alive = 0;
  std::atomic<int> waiting{0};
  {
    runtime rt{small_runtime()};
    auto forever = [&]() -> shared_task<int> {
      counted local;
      (void)co_await coring::sleep_for(1h);
      co_return 1;
    };
    auto shared = forever();
    auto awaiter = [&](shared_task<int> s) -> task<void> {
      waiting.fetch_add(1);
      (void)co_await s;
    };
    coring::spawn_detached(rt.io(), awaiter(shared));
    coring::spawn_detached(rt.cpu(), awaiter(shared));
    coring_test::block_until([&] { return waiting.load() == 2 && counted::alive.load() == 1; });
  }
  CHECK(counted::alive.load() == 0);
}

TEST_CASE("a shared_task awaited outside any runtime says so") {
  auto one = []() -> shared_task<int> { co_return 1; };
  auto shared = one();
  auto outside = [&]() -> task<void> { (void)co_await shared; };
  coring_test::by_hand<void> run(outside());
  REQUIRE(run.done());
  CHECK_THROWS_AS(run.take(), std::system_error);
}
