// SPDX-License-Identifier: MIT
// interval: the first tick at once, one period between ticks, each missed-tick behaviour, and
// tick() as a cancellation point, on both pools.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/interval.hpp>
#include <coring/on.hpp>
#include <coring/runtime.hpp>
#include <coring/spawn.hpp>
#include <coring/sync_wait.hpp>
#include <coring/task.hpp>
#include <coring/timeout.hpp>
#include <coring/when_any.hpp>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using coring::executor;
using coring::interval;
using coring::missed_tick;
using coring::result;
using coring::runtime;
using coring::task;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto period = 40ms;

/// The first tick, then the task blocks its thread for 5.5 periods, then `after` more ticks:
/// returns every tick's time and when each completed.
struct ticks_seen {
  std::vector<clock_type::time_point> scheduled;
  std::vector<clock_type::time_point> completed;
  clock_type::time_point unblocked;
};

task<ticks_seen> tick_after_a_block(executor ex, missed_tick behavior, int after) {
  co_await coring::on(ex);
  ticks_seen seen;
  interval ticks(period, behavior);
  auto first = co_await ticks.tick();
  REQUIRE(first);
  seen.scheduled.push_back(*first);
  seen.completed.push_back(clock_type::now());
  std::this_thread::sleep_for(period * 11 / 2);  // blocks the thread: ticks 1..5 are missed
  seen.unblocked = clock_type::now();
  for (int i = 0; i < after; ++i) {
    auto t = co_await ticks.tick();
    REQUIRE(t);
    CHECK(ex.running_in_this_thread());
    seen.scheduled.push_back(*t);
    seen.completed.push_back(clock_type::now());
  }
  co_return seen;
}

}  // namespace

TEST_CASE("an interval's first tick completes at once and the next ones one period apart, on both pools") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(ex);
      const auto made = clock_type::now();
      interval ticks(period);
      CHECK(ticks.behavior() == missed_tick::burst);
      CHECK(ticks.period() == period);
      auto first = co_await ticks.tick();
      REQUIRE(first);
      CHECK(*first >= made);
      CHECK(clock_type::now() - made < 500ms);  // generous: "at once" on a loaded machine
      auto previous = *first;
      for (int i = 0; i < 3; ++i) {
        auto t = co_await ticks.tick();
        REQUIRE(t);
        CHECK(ex.running_in_this_thread());
        CHECK(*t - previous == period);  // the scheduled times, not the completion times
        CHECK(clock_type::now() >= *t);  // never early
        previous = *t;
      }
      CHECK(ticks.next_tick() == previous + period);
    };
    rt.block_on(body());
  }
}

TEST_CASE(
    "burst: after a block, the missed ticks complete at once with their own times, then the grid holds") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    const ticks_seen seen = rt.block_on(tick_after_a_block(ex, missed_tick::burst, 7));
    const auto start = seen.scheduled[0];
    for (std::size_t k = 0; k < seen.scheduled.size(); ++k) {
      CHECK(seen.scheduled[k] == start + period * static_cast<int>(k));
    }
    // Ticks 1..5 were due while the thread was blocked: they come back without waiting.
    for (std::size_t k = 1; k <= 5; ++k) CHECK(seen.completed[k] - seen.unblocked < 5 * period);
    // Tick 6 (5.5 periods in: not yet due) and 7 wait for their time.
    CHECK(seen.completed[6] >= seen.scheduled[6]);
    CHECK(seen.completed[7] >= seen.scheduled[7]);
  }
}

TEST_CASE("delay: after a block, the late tick comes at once and the next is one period after it") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    const ticks_seen seen = rt.block_on(tick_after_a_block(ex, missed_tick::delay, 3));
    const auto start = seen.scheduled[0];
    CHECK(seen.scheduled[1] == start + period);  // the missed tick, returned late
    CHECK(seen.completed[1] >= seen.unblocked);
    // The grid moved: the next tick is a period after the late one completed, not on start + k*p.
    CHECK(seen.scheduled[2] >= seen.unblocked + period);
    CHECK(seen.scheduled[2] <= seen.completed[1] + period);
    CHECK(seen.scheduled[2] - seen.scheduled[1] > 4 * period);
    CHECK(seen.scheduled[3] - seen.scheduled[2] >= period);
    for (std::size_t k = 2; k < seen.completed.size(); ++k) CHECK(seen.completed[k] >= seen.scheduled[k]);
  }
}

TEST_CASE("skip: after a block, the missed ticks are dropped and the next is on the original grid") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    const ticks_seen seen = rt.block_on(tick_after_a_block(ex, missed_tick::skip, 3));
    const auto start = seen.scheduled[0];
    CHECK(seen.scheduled[1] == start + period);  // the first missed one is returned, late
    for (std::size_t k = 2; k < seen.scheduled.size(); ++k) {
      CHECK((seen.scheduled[k] - start) % period == clock_type::duration::zero());  // on the grid
      CHECK(seen.scheduled[k] > seen.scheduled[k - 1]);
    }
    // The next grid point after the late tick completed: ticks 2..5 were skipped.
    CHECK(seen.scheduled[2] > seen.completed[1]);
    CHECK(seen.scheduled[2] - seen.completed[1] <= period);
    CHECK(seen.scheduled[2] - start >= 6 * period);
  }
}

TEST_CASE("a canceled tick ends with operation_canceled and does not consume the tick, on both pools") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    interval ticks(1h);
    std::atomic<bool> first_done{false};
    auto ticker = [&]() -> task<result<clock_type::time_point>> {
      (void)co_await ticks.tick();  // the first one, at once
      first_done = true;
      co_return co_await ticks.tick();  // an hour away
    };
    auto body = [&]() -> task<void> {
      auto h = coring::spawn(ex, ticker());
      while (!first_done.load()) co_await coring::yield();
      (void)co_await coring::sleep_for(5ms);
      const auto due = ticks.next_tick();
      h.cancel();
      auto r = co_await h;
      CHECK(r.error() == std::errc::operation_canceled);
      CHECK(ticks.next_tick() == due);
    };
    rt.block_on(body());
  }
}

TEST_CASE("timeout around a tick ends it with timed_out; when_any against a tick takes no tick") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(ex);
      interval ticks(1h, missed_tick::skip);
      REQUIRE(co_await ticks.tick());
      const auto due = ticks.next_tick();
      const auto start = clock_type::now();
      auto r = co_await coring::timeout(20ms, ticks.tick());
      CHECK(r.error() == std::errc::timed_out);
      CHECK(clock_type::now() - start >= 20ms);
      CHECK(ex.running_in_this_thread());
      CHECK(ticks.next_tick() == due);
      auto first = co_await coring::when_any(ticks.tick(), coring::sleep_for(10ms));
      CHECK(first.index == 1);
      CHECK(ticks.next_tick() == due);
    };
    rt.block_on(body());
  }
}

TEST_CASE("a tick asked to stop before it begins is canceled at once") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> go{false};
  auto ticker = [&]() -> task<result<clock_type::time_point>> {
    interval ticks(10ms);
    while (!go.load()) co_await coring::yield();
    co_return co_await ticks.tick();  // the first tick is due, but stop came first
  };
  auto body = [&]() -> task<result<clock_type::time_point>> {
    auto h = coring::spawn(rt.io(), ticker());
    co_await coring::yield();
    h.cancel();
    go = true;
    co_return co_await h;
  };
  try {
    auto r = rt.block_on(body());
    CHECK(r.error() == std::errc::operation_canceled);
  } catch (const std::system_error& e) {  // canceled before it even started: as canceled
    CHECK(e.code() == std::errc::operation_canceled);
  }
}

TEST_CASE("reset and reset_at move the schedule; an interval with a start in the future waits for it") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = []() -> task<void> {
    const auto start = clock_type::now() + 30ms;
    interval later(start, 10ms, missed_tick::delay);
    CHECK(later.behavior() == missed_tick::delay);
    auto t = co_await later.tick();
    REQUIRE(t);
    CHECK(*t == start);
    CHECK(clock_type::now() >= start);
    later.reset();
    CHECK(later.next_tick() > clock_type::now());
    CHECK(later.next_tick() <= clock_type::now() + 10ms);
    const auto at = clock_type::now() + 5ms;
    later.reset_at(at);
    later.set_behavior(missed_tick::skip);
    CHECK(later.behavior() == missed_tick::skip);
    auto u = co_await later.tick();
    REQUIRE(u);
    CHECK(*u == at);
  };
  rt.block_on(body());
}

TEST_CASE("an interval with a period that is not positive throws invalid_argument") {
  CHECK_THROWS_AS(interval(0ms), std::invalid_argument);
  CHECK_THROWS_AS(interval(-5s), std::invalid_argument);
  CHECK_THROWS_AS(interval(std::chrono::duration<double>(0.0)), std::invalid_argument);
  CHECK_THROWS_AS(interval(std::chrono::duration<double, std::nano>(0.25)), std::invalid_argument);
  CHECK_THROWS_AS(interval(clock_type::now(), 0ns), std::invalid_argument);
  interval huge(std::chrono::duration<double, std::ratio<31556952>>(1e12));  // saturates, no overflow
  CHECK(huge.period() == clock_type::duration::max());
}

TEST_CASE("an interval ticks under sync_wait too") {
  auto body = []() -> task<int> {
    interval ticks(1ms);
    int n = 0;
    for (int i = 0; i < 3; ++i) n += (co_await ticks.tick()) ? 1 : 0;
    co_return n;
  };
  CHECK(coring::sync_wait(body()) == 3);
}
