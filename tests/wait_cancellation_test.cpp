// SPDX-License-Identifier: MIT
// Every wait on a primitive is a cancellation point (join_handle::cancel, timeout, when_any), on
// both pools, and cancel-safe: a canceled wait takes nothing and loses nothing.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_event.hpp>
#include <coring/async_latch.hpp>
#include <coring/async_mutex.hpp>
#include <coring/async_semaphore.hpp>
#include <coring/channel.hpp>
#include <coring/coring.hpp>
#include <coring/task_group.hpp>
#include <coring/timeout.hpp>
#include <coring/when_any.hpp>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"
#include "wait_harness.hpp"

using namespace std::chrono_literals;
using coring::async_event;
using coring::async_latch;
using coring::async_mutex;
using coring::async_semaphore;
using coring::channel;
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

/// Each primitive's wait, on a primitive that makes it park.
struct parking_waits {
  async_event event;
  async_latch latch{1};
  async_mutex mutex;
  async_semaphore semaphore{0};
  channel<int> empty{1};
  channel<int> full{1};

  parking_waits() {
    REQUIRE(mutex.try_lock());
    REQUIRE(full.try_send(7));
  }
  ~parking_waits() { mutex.unlock(); }

  std::vector<std::pair<const char*, wait_fn>> all() {
    return {
        {"async_event::wait",
         [this]() -> task<std::error_code> {
           co_await event.wait();
           co_return std::error_code{};
         }},
        {"async_latch::wait",
         [this]() -> task<std::error_code> {
           co_await latch.wait();
           co_return std::error_code{};
         }},
        {"async_mutex::lock",
         [this]() -> task<std::error_code> {
           co_await mutex.lock();
           mutex.unlock();
           co_return std::error_code{};
         }},
        {"async_mutex::scoped_lock",
         [this]() -> task<std::error_code> {
           auto guard = co_await mutex.scoped_lock();
           co_return std::error_code{};
         }},
        {"async_semaphore::acquire",
         [this]() -> task<std::error_code> {
           co_await semaphore.acquire();
           semaphore.release();
           co_return std::error_code{};
         }},
        {"channel::receive",
         [this]() -> task<std::error_code> {
           auto r = co_await empty.receive();
           co_return r ? std::error_code{} : r.error();
         }},
        {"channel::send",
         [this]() -> task<std::error_code> {
           auto r = co_await full.send(8);
           co_return r ? std::error_code{} : r.error();
         }},
    };
  }

  /// Nothing was taken, nothing delivered, nothing left taken by a canceled wait.
  void check_untouched() {
    CHECK_FALSE(event.is_set());
    CHECK_FALSE(latch.try_wait());
    CHECK_FALSE(mutex.try_lock());  // still the test's, not handed to a canceled waiter
    CHECK(semaphore.available() == 0);
    semaphore.release();
    CHECK(semaphore.available() == 1);  // no canceled waiter took it
    CHECK(semaphore.try_acquire());
    CHECK(empty.size() == 0);
    REQUIRE(empty.try_send(1));
    auto got = empty.try_receive();  // no canceled receiver is still queued to take it
    REQUIRE(got);
    CHECK(*got == 1);
    CHECK(full.size() == 1);  // the canceled send delivered nothing
    auto first = full.try_receive();
    REQUIRE(first);
    CHECK(*first == 7);
    CHECK(full.try_receive().error() == std::errc::resource_unavailable_try_again);
    REQUIRE(full.try_send(7));
  }
};

/// Runs `t` on `ex` and waits for it from the test thread.
}  // namespace

TEST_CASE("cancel resumes a task parked on any primitive with operation_canceled, on both pools") {
  runtime rt{coring_test::small_runtime()};
  parking_waits w;
  for (auto& [pool, ex] : pools(rt)) {
    for (auto& [name, wait] : w.all()) {
      CAPTURE(pool);
      CAPTURE(name);
      CHECK(cancel_parked(rt, ex, wait) == canceled);
      w.check_untouched();
    }
  }
}

TEST_CASE("cancel resumes a task parked in a join_handle await, and the awaited task runs on") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    async_event gate;
    auto inner = coring::spawn(ex, [](async_event& g) -> task<int> {
      co_await g.wait();
      co_return 5;
    }(gate));
    wait_fn await_inner = [&]() -> task<std::error_code> {
      (void)co_await inner;
      co_return std::error_code{};
    };
    CHECK(cancel_parked(rt, ex, await_inner) == canceled);
    CHECK_FALSE(inner.done());  // only the wait was canceled
    gate.set();
    auto again = [&]() -> task<int> { co_return co_await inner; };  // the result is still there
    CHECK(rt.block_on(again()) == 5);
  }
}

TEST_CASE("cancel resumes a task parked in task_group::join once its children ended") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    std::atomic<int> children_ended{0};
    coring::task_group group;
    wait_fn join = [&]() -> task<std::error_code> {
      for (int i = 0; i < 3; ++i) {
        group.spawn(ex, [](std::atomic<int>& ended) -> task<void> {
          (void)co_await coring::sleep_for(1h);
          ended.fetch_add(1);
        }(children_ended));
      }
      co_await group.join();
      co_return std::error_code{};
    };
    CHECK(cancel_parked(rt, ex, join) == canceled);
    CHECK(children_ended.load() == 3);  // join still waited for them
  }
}

TEST_CASE("a wait that begins after stop was requested ends at once unless the primitive is ready") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    parking_waits w;
    std::atomic<bool> go{false};
    std::atomic<bool> started{false};
    async_event set_event{true};
    async_mutex free_mutex;
    async_semaphore one_permit{1};
    channel<int> with_item{1};
    REQUIRE(with_item.try_send(3));
    // Spins (no suspension: no cancellation point) until the test canceled it, then waits.
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
      // Ready primitives: the operation succeeds without suspending.
      co_await set_event.wait();
      auto guard = co_await free_mutex.scoped_lock();
      co_await one_permit.acquire();
      auto item = co_await with_item.receive();
      CHECK(item);
      co_return codes;
    };
    auto h = coring::spawn(ex, body());
    block_until([&] { return started.load(); });
    h.cancel();
    go.store(true);
    auto get = [&]() -> task<std::vector<std::error_code>> { co_return co_await h; };
    std::vector<std::error_code> codes = rt.block_on(get());
    REQUIRE(codes.size() == 7);
    for (const auto& c : codes) CHECK(c == canceled);
    w.check_untouched();
    CHECK(one_permit.available() == 0);
    CHECK(with_item.size() == 0);
  }
}

TEST_CASE("timeout ends a wait on any primitive after its duration, and the primitive is untouched") {
  runtime rt{coring_test::small_runtime()};
  parking_waits w;
  for (auto& [pool, ex] : pools(rt)) {
    for (auto& [name, wait] : w.all()) {
      CAPTURE(pool);
      CAPTURE(name);
      auto body = [&]() -> task<void> {
        const auto start = std::chrono::steady_clock::now();
        auto as_int = [&]() -> task<int> {
          const std::error_code c = co_await wait();
          if (c) throw std::system_error(c);  // as the result-returning waits' error
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

TEST_CASE("timeout of a receive on an empty channel gives timed_out after its duration and loses no item") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    channel<int> ch{4};
    auto body = [&]() -> task<void> {
      const auto start = std::chrono::steady_clock::now();
      coring::result<int> r = co_await coring::timeout(100ms, ch.receive());
      const auto took = std::chrono::steady_clock::now() - start;
      CHECK(r.error() == timed_out);
      CHECK(took >= 100ms);
      CHECK(took < 5s);
      REQUIRE(ch.try_send(11));
      auto next = co_await ch.receive();  // the timed-out receive is not queued any more
      REQUIRE(next);
      CHECK(*next == 11);
    };
    run_on(rt, ex, body());
  }
}

TEST_CASE("when_any of a receive on an empty channel and a sleep returns the sleep's index") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    channel<int> ch{1};
    auto body = [&]() -> task<void> {
      const auto start = std::chrono::steady_clock::now();
      auto [index, value] = co_await coring::when_any(ch.receive(), coring::sleep_for(50ms));
      const auto took = std::chrono::steady_clock::now() - start;
      CHECK(index == 1);
      CHECK(took >= 50ms);
      CHECK(took < 5s);
      REQUIRE(ch.try_send(2));
      CHECK(ch.size() == 1);  // nobody took it
    };
    run_on(rt, ex, body());
  }
}

TEST_CASE("timeout racing an item's arrival gives either the item or timed_out, and never loses it") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    int received = 0;
    int timed = 0;
    for (int i = 0; i < 100; ++i) {
      channel<int> ch{1};
      auto sender = [](channel<int>& c, int delay_us) -> task<void> {
        (void)co_await coring::sleep_for(std::chrono::microseconds(delay_us));
        REQUIRE(c.try_send(1));
      };
      auto body = [&]() -> task<void> {
        auto h = coring::spawn(ex, sender(ch, 500 + (i % 10) * 100));
        coring::result<int> r = co_await coring::timeout(1ms, ch.receive());
        co_await h;
        if (r) {
          ++received;
          CHECK(ch.size() == 0);
        } else {
          CHECK(r.error() == timed_out);
          ++timed;
          CHECK(ch.size() == 1);  // the item stayed in the channel
        }
      };
      run_on(rt, ex, body());
    }
    CHECK(received + timed == 100);
  }
}

TEST_CASE("timeout of any awaitable in a task asked to stop before it began gives operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    std::atomic<bool> go{false};
    channel<int> ch{1};
    async_event never;
    std::atomic<bool> started{false};
    auto body = [&]() -> task<std::vector<std::error_code>> {
      started.store(true);
      for (int i = 0; i < 5000 && !go.load(); ++i) std::this_thread::sleep_for(1ms);
      std::vector<std::error_code> codes;
      codes.push_back((co_await coring::timeout(10s, ch.receive())).error());
      codes.push_back((co_await coring::timeout(10s, never.wait())).error());
      auto work = []() -> task<int> { co_return 1; };
      codes.push_back((co_await coring::timeout(10s, work())).error());
      codes.push_back((co_await coring::timeout(10s, coring::sleep_for(1h))).error());  // the ring form
      co_return codes;
    };
    auto h = coring::spawn(ex, body());
    block_until([&] { return started.load(); });
    h.cancel();
    go.store(true);
    auto get = [&]() -> task<std::vector<std::error_code>> { co_return co_await h; };
    const std::vector<std::error_code> codes = rt.block_on(get());
    REQUIRE(codes.size() == 4);
    for (const auto& c : codes) CHECK(c == canceled);
  }
}

TEST_CASE("when_any begun in a task asked to stop throws operation_canceled, not a child's value") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    for (int round = 0; round < 10; ++round) {
      std::atomic<bool> go{false};
      std::atomic<bool> started{false};
      auto body = [&]() -> task<int> {
        started.store(true);
        for (int i = 0; i < 5000 && !go.load(); ++i) std::this_thread::sleep_for(1ms);
        std::vector<task<int>> ready;
        // Many: the other worker starts (and finishes) some while when_any still spawns the rest.
        for (int i = 0; i < 2000; ++i) ready.push_back([](int v) -> task<int> { co_return v; }(i));
        int outcomes = 0;
        try {
          (void)co_await coring::when_any(std::move(ready));
        } catch (const std::system_error& e) {
          CHECK(e.code() == canceled);
          outcomes += 1;
        }
        try {
          async_event set{true};
          (void)co_await coring::when_any(set.wait(), coring::sleep_for(1h));
        } catch (const std::system_error& e) {
          CHECK(e.code() == canceled);
          outcomes += 10;
        }
        co_return outcomes;
      };
      auto h = coring::spawn(ex, body());
      block_until([&] { return started.load(); });
      h.cancel();
      go.store(true);
      auto get = [&]() -> task<int> { co_return co_await h; };
      REQUIRE(rt.block_on(get()) == 11);
    }
  }
}

TEST_CASE("a receive canceled while an item arrives either gets it or leaves it in the channel") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    for (int i = 0; i < 200; ++i) {
      channel<int> ch{1};
      std::atomic<int> started{0};
      wait_fn receive = [&]() -> task<std::error_code> {
        auto r = co_await ch.receive();
        co_return r ? std::error_code{} : r.error();
      };
      auto h = coring::spawn(ex, run_wait(started, receive));
      block_until([&] { return started.load() == 1; });
      std::thread sender([&] { REQUIRE(ch.try_send(1)); });
      h.cancel();
      sender.join();
      const std::error_code got = rt.block_on(take(std::move(h)));
      if (got) {
        CHECK(got == canceled);
        CHECK(ch.size() == 1);
      } else {
        CHECK(ch.size() == 0);
      }
    }
  }
}

TEST_CASE("a lock or acquire canceled while the mutex or permit is handed over never leaks it") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    for (int i = 0; i < 200; ++i) {
      async_mutex m;
      async_semaphore s{0};
      REQUIRE(m.try_lock());
      std::atomic<int> started{0};
      wait_fn lock = [&]() -> task<std::error_code> {
        auto guard = co_await m.scoped_lock();
        co_return std::error_code{};
      };
      wait_fn acquire = [&]() -> task<std::error_code> {
        co_await s.acquire();  // kept: counted below
        co_return std::error_code{};
      };
      auto hl = coring::spawn(ex, run_wait(started, lock));
      auto ha = coring::spawn(ex, run_wait(started, acquire));
      block_until([&] { return started.load() == 2; });
      std::thread releaser([&] {
        m.unlock();
        s.release();
      });
      hl.cancel();
      ha.cancel();
      releaser.join();
      const std::error_code locked = rt.block_on(take(std::move(hl)));
      const std::error_code acquired = rt.block_on(take(std::move(ha)));
      if (locked) CHECK(locked == canceled);
      CHECK(m.try_lock());  // free either way: unlocked by the guard, or never handed to the canceled
      m.unlock();
      if (acquired) {
        CHECK(acquired == canceled);
        CHECK(s.available() == 1);  // the permit was not lost
      } else {
        CHECK(s.available() == 0);  // the waiter holds it
      }
    }
  }
}

TEST_CASE("a primitive may be destroyed as soon as another thread's set, release or close is seen") {
  // The waiter owns the primitive: it frees it the moment it sees the new state, while the
  // thread that published it may still be inside the call (TSan and ASan check the window).
  for (int i = 0; i < 300; ++i) {
    auto* event = new async_event;
    std::thread setter([event] { event->set(); });
    while (!event->is_set()) std::this_thread::yield();
    delete event;
    setter.join();

    auto* latch = new async_latch{1};
    std::thread counter([latch] { latch->count_down(); });
    while (!latch->try_wait()) std::this_thread::yield();
    delete latch;
    counter.join();

    auto* ch = new channel<int>{1};
    std::thread closer([ch] { ch->close(); });
    while (!ch->is_closed()) std::this_thread::yield();
    delete ch;
    closer.join();

    // A parked waiter makes release() hand out permits under the semaphore's guard; the rest
    // becomes available, and whoever takes it may free the semaphore.
    auto* semaphore = new async_semaphore{0};
    {
      coring_test::by_hand waiter([](async_semaphore& s) -> task<void> { co_await s.acquire(); }(*semaphore));
      std::thread releaser([semaphore] { semaphore->release(2); });
      while (!semaphore->try_acquire()) std::this_thread::yield();
      delete semaphore;
      releaser.join();
      CHECK(waiter.done());
    }

    auto* mutex = new async_mutex;
    REQUIRE(mutex->try_lock());
    {
      coring_test::by_hand waiter([](async_mutex& m) -> task<void> {
        co_await m.lock();
        m.unlock();
      }(*mutex));
      std::thread unlocker([mutex] { mutex->unlock(); });
      unlocker.join();
      REQUIRE(waiter.done());
      delete mutex;
    }
  }
}

TEST_CASE("co_await of an empty, moved-from or already awaited join_handle throws logic_error") {
  runtime rt{coring_test::small_runtime()};
  auto misuse = [](join_handle<int>& h) -> task<bool> {
    try {
      (void)co_await h;
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  auto body = [&]() -> task<void> {
    join_handle<int> empty;
    const bool empty_refused = co_await misuse(empty);
    CHECK(empty_refused);
    auto h = coring::spawn(rt.cpu(), []() -> task<int> { co_return 4; }());
    join_handle<int> moved = std::move(h);
    const bool moved_from_refused = co_await misuse(h);
    CHECK(moved_from_refused);
    const int value = co_await moved;
    CHECK(value == 4);
    const bool second_refused = co_await misuse(moved);  // the result was taken
    CHECK(second_refused);
  };
  rt.block_on(body());
}

TEST_CASE("async_semaphore refuses a negative count in every build type") {
  const std::ptrdiff_t negative = -1;
  CHECK_THROWS_AS(async_semaphore(static_cast<std::size_t>(negative)), std::invalid_argument);
  CHECK_NOTHROW(async_semaphore(async_semaphore::max_permits));
}
