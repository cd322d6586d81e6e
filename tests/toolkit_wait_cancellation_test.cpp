// SPDX-License-Identifier: MIT
// Every wait of the toolkit primitives (async_shared_mutex, async_condition_variable, oneshot,
// broadcast, watch, unbounded_channel, a bounded async_semaphore, a queued spawn_blocking) is a
// cancellation point (join_handle::cancel, timeout, when_any) on both pools, and cancel-safe.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_condition_variable.hpp>
#include <coring/async_mutex.hpp>
#include <coring/async_semaphore.hpp>
#include <coring/async_shared_mutex.hpp>
#include <coring/broadcast.hpp>
#include <coring/coring.hpp>
#include <coring/oneshot.hpp>
#include <coring/spawn_blocking.hpp>
#include <coring/timeout.hpp>
#include <coring/unbounded_channel.hpp>
#include <coring/watch.hpp>
#include <coring/when_any.hpp>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"
#include "wait_harness.hpp"

using namespace std::chrono_literals;
using coring::executor;
using coring::join_handle;
using coring::runtime;
using coring::task;
using coring_test::block_until;

namespace {

constexpr auto canceled = std::errc::operation_canceled;
constexpr auto timed_out = std::errc::timed_out;

using coring_test::cancel_parked;
using coring_test::pools;
using coring_test::run_on;
using coring_test::run_wait;
using coring_test::take;
using coring_test::wait_fn;

std::error_code code_of(const coring::result<void>& r) {
  return r ? std::error_code{} : r.error();
}
template <class T>
std::error_code code_of(const coring::result<T>& r) {
  return r ? std::error_code{} : r.error();
}

/// One runtime whose blocking pool has one thread, kept busy so that new jobs queue.
coring::runtime_options one_blocking_thread() {
  auto o = coring_test::small_runtime();
  o.blocking_threads = 1;
  return o;
}

/// Each new wait, on a primitive that makes it park.
struct parking_waits {
  runtime& rt;
  coring::async_shared_mutex held_shared;     // a reader holds it: lock() parks
  coring::async_shared_mutex held_exclusive;  // a writer holds it: lock_shared() parks
  coring::async_mutex cv_mutex;
  coring::async_condition_variable cv;
  coring::oneshot<int>::sender tx;
  coring::oneshot<int>::receiver rx;
  coring::broadcast<int> news{4};
  coring::broadcast<int>::receiver news_rx = news.subscribe();
  coring::watch<int> value{1};
  coring::watch<int>::receiver value_rx = value.subscribe();
  coring::unbounded_channel<int> queue;
  coring::async_semaphore bounded{0, 2};
  std::atomic<bool> release_blocker{false};
  std::atomic<bool> blocker_running{false};
  std::atomic<int> queued_jobs_run{0};
  join_handle<void> blocker;

  explicit parking_waits(runtime& r) : rt(r) {
    REQUIRE(held_shared.try_lock_shared());
    REQUIRE(held_exclusive.try_lock());
    std::tie(tx, rx) = coring::oneshot<int>::make();
    blocker =
        coring::spawn(rt.cpu(), [](std::atomic<bool>& running, std::atomic<bool>& release) -> task<void> {
          co_await coring::spawn_blocking([&] {
            running.store(true);
            for (int i = 0; i < 20000 && !release.load(); ++i) std::this_thread::sleep_for(1ms);
          });
        }(blocker_running, release_blocker));
    block_until([&] { return blocker_running.load(); });
  }
  ~parking_waits() {
    held_shared.unlock_shared();
    held_exclusive.unlock();
    release_blocker.store(true);
    auto wait = [](join_handle<void> h) -> task<void> { co_await h; };
    rt.block_on(wait(std::move(blocker)));
  }

  std::vector<std::pair<const char*, wait_fn>> all() {
    return {
        {"async_shared_mutex::lock",
         [this]() -> task<std::error_code> {
           auto g = co_await held_shared.lock();
           co_return std::error_code{};
         }},
        {"async_shared_mutex::lock_shared",
         [this]() -> task<std::error_code> {
           auto g = co_await held_exclusive.lock_shared();
           co_return std::error_code{};
         }},
        {"async_condition_variable::wait",
         [this]() -> task<std::error_code> {
           auto g = co_await cv_mutex.scoped_lock();
           try {
             co_await cv.wait(g);
           } catch (const std::system_error&) {
             CHECK(g.owns_lock());  // relocked before the error was reported
             CHECK_FALSE(cv_mutex.try_lock());
             throw;
           }
           co_return std::error_code{};
         }},
        {"oneshot::receive", [this]() -> task<std::error_code> { co_return code_of(co_await rx.receive()); }},
        {"broadcast::receive",
         [this]() -> task<std::error_code> { co_return code_of(co_await news_rx.receive()); }},
        {"watch::changed",
         [this]() -> task<std::error_code> { co_return code_of(co_await value_rx.changed()); }},
        {"unbounded_channel::receive",
         [this]() -> task<std::error_code> { co_return code_of(co_await queue.receive()); }},
        {"bounded async_semaphore::acquire",
         [this]() -> task<std::error_code> {
           co_await bounded.acquire();
           bounded.release();
           co_return std::error_code{};
         }},
        {"spawn_blocking (queued)",
         [this]() -> task<std::error_code> {
           co_await coring::spawn_blocking([this] { queued_jobs_run.fetch_add(1); });
           co_return std::error_code{};
         }},
    };
  }

  /// Nothing was taken or left taken by a canceled wait.
  void check_untouched() {
    CHECK_FALSE(held_shared.try_lock());   // still the reader's; no writer left queued...
    CHECK(held_shared.try_lock_shared());  // ...that would hold new readers back
    held_shared.unlock_shared();
    CHECK_FALSE(held_exclusive.try_lock_shared());
    CHECK(cv_mutex.try_lock());  // the canceled wait's guard unlocked it
    cv_mutex.unlock();
    CHECK(rx.try_receive().error() == std::errc::resource_unavailable_try_again);
    CHECK(news_rx.try_receive().error() == std::errc::resource_unavailable_try_again);
    CHECK_FALSE(value_rx.has_changed());
    CHECK(queue.size() == 0);
    REQUIRE(queue.send(5));
    auto got = queue.try_receive();  // no canceled receiver still queued to take it
    REQUIRE(got);
    CHECK(*got == 5);
    CHECK(bounded.available() == 0);
    bounded.release();
    CHECK(bounded.try_acquire());
    CHECK(queued_jobs_run.load() == 0);  // a canceled queued job never runs
  }
};

}  // namespace

TEST_CASE("cancel resumes a task parked on any toolkit primitive with operation_canceled, on both pools") {
  runtime rt{one_blocking_thread()};
  parking_waits w{rt};
  for (auto& [pool, ex] : pools(rt)) {
    for (auto& [name, wait] : w.all()) {
      CAPTURE(pool);
      CAPTURE(name);
      CHECK(cancel_parked(rt, ex, wait) == canceled);
      w.check_untouched();
    }
  }
}

TEST_CASE("timeout ends a wait on any toolkit primitive after its duration, and the primitive is untouched") {
  runtime rt{one_blocking_thread()};
  parking_waits w{rt};
  for (auto& [pool, ex] : pools(rt)) {
    for (auto& [name, wait] : w.all()) {
      CAPTURE(pool);
      CAPTURE(name);
      auto body = [&]() -> task<void> {
        const auto start = std::chrono::steady_clock::now();
        auto as_int = [&]() -> task<int> {
          const std::error_code c = co_await wait();
          if (c) throw std::system_error(c);
          co_return 0;
        };
        coring::result<int> r = co_await coring::timeout(30ms, as_int());
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(r.error() == timed_out);
        CHECK(took >= 30ms);
        CHECK(took < 5s);
      };
      run_on(rt, ex, body());
      w.check_untouched();
    }
  }
}

TEST_CASE("when_any of a toolkit wait and a sleep returns the sleep's index, the wait untouched") {
  runtime rt{one_blocking_thread()};
  parking_waits w{rt};
  for (auto& [pool, ex] : pools(rt)) {
    for (auto& [name, wait] : w.all()) {
      CAPTURE(pool);
      CAPTURE(name);
      auto body = [&]() -> task<void> {
        auto as_task = [&]() -> task<std::error_code> { co_return co_await wait(); };
        auto [index, value] = co_await coring::when_any(as_task(), coring::sleep_for(30ms));
        CHECK(index == 1);
      };
      run_on(rt, ex, body());
      w.check_untouched();
    }
  }
}

TEST_CASE("a toolkit wait that begins after stop was requested ends at once as canceled") {
  runtime rt{one_blocking_thread()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    parking_waits w{rt};
    std::atomic<bool> go{false};
    std::atomic<bool> started{false};
    auto body = [&]() -> task<std::vector<std::error_code>> {
      started.store(true);
      for (int i = 0; i < 5000 && !go.load(); ++i) std::this_thread::sleep_for(1ms);
      std::vector<std::error_code> codes;
      for (auto& [name, wait] : w.all()) {
        try {
          codes.push_back(co_await wait());
        } catch (const std::system_error& e) {
          codes.push_back(e.code());
        }
      }
      co_return codes;
    };
    auto h = coring::spawn(ex, body());
    block_until([&] { return started.load(); });
    h.cancel();
    go.store(true);
    auto get = [&]() -> task<std::vector<std::error_code>> { co_return co_await h; };
    std::vector<std::error_code> codes = rt.block_on(get());
    REQUIRE(codes.size() == w.all().size());
    for (const auto& c : codes) CHECK(c == canceled);
    w.check_untouched();
  }
}
