// SPDX-License-Identifier: MIT
// oneshot, broadcast, watch and unbounded_channel.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/broadcast.hpp>
#include <coring/coring.hpp>
#include <coring/oneshot.hpp>
#include <coring/unbounded_channel.hpp>
#include <coring/watch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::executor;
using coring::join_handle;
using coring::runtime;
using coring::task;
using coring_test::block_until;
using coring_test::by_hand;

namespace {

std::vector<std::pair<const char*, executor>> pools(runtime& rt) {
  return {{"io", rt.io()}, {"cpu", rt.cpu()}};
}

template <class T>
task<T> join(join_handle<T> h) {
  co_return co_await h;
}

using int_oneshot = coring::oneshot<std::unique_ptr<int>>;

task<int> receive_on(int_oneshot::receiver rx, executor home) {
  auto v = co_await rx.receive();
  CHECK(home.running_in_this_thread());
  REQUIRE(v);
  co_return **v;
}

task<bool> send_from(int_oneshot::sender tx, int value) {
  co_return static_cast<bool>(tx.send(std::make_unique<int>(value)));
}

}  // namespace

// ---- oneshot ------------------------------------------------------------------------------------

TEST_CASE("a oneshot delivers its value from one pool to a receiver waiting on the other") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    auto [tx, rx] = int_oneshot::make();
    const executor other = ex == rt.io() ? rt.cpu() : rt.io();
    auto h = coring::spawn(ex, receive_on(std::move(rx), ex));
    std::this_thread::sleep_for(10ms);  // parks
    CHECK(rt.block_on(join(coring::spawn(other, send_from(std::move(tx), 42)))));
    CHECK(rt.block_on(join(std::move(h))) == 42);
  }
}

TEST_CASE("a oneshot receiver sees broken_pipe when the sender is dropped without sending") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    auto [tx, rx] = coring::oneshot<int>::make();
    auto receive = [](coring::oneshot<int>::receiver r) -> task<std::error_code> {
      auto v = co_await r.receive();
      co_return v ? std::error_code{} : v.error();
    };
    auto h = coring::spawn(ex, receive(std::move(rx)));
    std::this_thread::sleep_for(10ms);  // parks
    tx.reset();                         // "sender dropped"
    CHECK(rt.block_on(join(std::move(h))) == std::errc::broken_pipe);
  }
  {  // dropped before the receive began
    auto [tx, rx] = coring::oneshot<int>::make();
    { auto gone = std::move(tx); }
    CHECK(rx.try_receive().error() == std::errc::broken_pipe);
  }
}

TEST_CASE("a oneshot send fails with broken_pipe once the receiver is gone, and twice is invalid") {
  auto [tx, rx] = coring::oneshot<int>::make();
  CHECK_FALSE(tx.is_closed());
  CHECK(rx.try_receive().error() == std::errc::resource_unavailable_try_again);
  rx.reset();
  CHECK(tx.is_closed());
  CHECK(tx.send(1).error() == std::errc::broken_pipe);
  CHECK(tx.send(2).error() == std::errc::invalid_argument);  // the sender is spent

  auto [tx2, rx2] = coring::oneshot<std::string>::make();
  REQUIRE(tx2.send(std::string(100, 'x')));
  auto v = rx2.try_receive();
  REQUIRE(v);
  CHECK(v->size() == 100);
  CHECK(rx2.try_receive().error() == std::errc::invalid_argument);  // taken already
  coring::oneshot<int>::receiver empty;
  CHECK(empty.try_receive().error() == std::errc::invalid_argument);
}

TEST_CASE("a oneshot's halves may be destroyed at once on either side, in any order") {
  for (int i = 0; i < 300; ++i) {
    auto [tx, rx] = coring::oneshot<int>::make();
    std::atomic<bool> got{false};
    by_hand waiter([](coring::oneshot<int>::receiver r, std::atomic<bool>& g) -> task<void> {
      auto v = co_await r.receive();
      CHECK(v);
      g.store(true);
    }(std::move(rx), got));
    std::thread sender([s = std::move(tx), i]() mutable { (void)s.send(i); });
    sender.join();
    CHECK(waiter.done());
    CHECK(got.load());
    auto [tx2, rx2] = coring::oneshot<int>::make();
    std::thread dropper([s = std::move(tx2)]() mutable { s.reset(); });
    while (rx2.try_receive().error() != std::errc::broken_pipe) std::this_thread::yield();
    rx2.reset();  // the state may go here while the sender's reset is on its way out
    dropper.join();
  }
}

// ---- broadcast ----------------------------------------------------------------------------------

TEST_CASE("every broadcast receiver sees every item in order, on both pools") {
  runtime rt{coring_test::small_runtime()};
  constexpr int items = 500;
  coring::broadcast<int> b{items};  // room for everything: nobody can lag
  std::vector<coring::broadcast<int>::receiver> rxs;
  for (int i = 0; i < 4; ++i) rxs.push_back(b.subscribe());
  CHECK(b.receiver_count() == 4);
  auto receiver = [](coring::broadcast<int>::receiver rx, executor home) -> task<long> {
    long sum = 0;
    int expected = 0;
    for (;;) {
      auto v = co_await rx.receive();
      CHECK(home.running_in_this_thread());
      if (!v) {
        CHECK(v.error() == std::errc::broken_pipe);
        break;
      }
      CHECK(*v == expected);
      ++expected;
      sum += *v;
    }
    co_return sum;
  };
  std::vector<join_handle<long>> hs;
  for (int i = 0; i < 4; ++i) {
    const executor ex = i % 2 ? rt.cpu() : rt.io();
    hs.push_back(coring::spawn(ex, receiver(std::move(rxs[i]), ex)));
  }
  auto sender = [&]() -> task<void> {
    for (int i = 0; i < items; ++i) {
      auto r = b.send(i);
      REQUIRE(r);
      CHECK(*r == 4);
      if (i % 16 == 15) (void)co_await coring::sleep_for(100us);  // receivers park and wake
    }
    b.close();
  };
  rt.block_on(join(coring::spawn(rt.cpu(), sender())));
  for (auto& h : hs) CHECK(rt.block_on(join(std::move(h))) == static_cast<long>(items) * (items - 1) / 2);
}

TEST_CASE("a lagging broadcast receiver is told exactly how many items it missed, then goes on") {
  coring::broadcast<int> b{4};
  auto slow = b.subscribe();
  auto fast = b.subscribe();
  for (int i = 0; i < 10; ++i) REQUIRE(b.send(i));
  CHECK(slow.pending() == 10);
  auto lag = slow.try_receive();
  REQUIRE_FALSE(lag);
  CHECK(lag.error().category() == coring::lagged_category());
  CHECK(coring::lagged_count(lag.error()) == 6);  // 0..5 were overwritten
  CHECK(lag.error() == std::errc::value_too_large);
  for (int i = 6; i < 10; ++i) {
    auto v = slow.try_receive();
    REQUIRE(v);
    CHECK(*v == i);
  }
  CHECK(slow.try_receive().error() == std::errc::resource_unavailable_try_again);
  CHECK(coring::lagged_count(std::make_error_code(std::errc::broken_pipe)) == 0);

  auto late = b.subscribe();  // sees only what comes next
  REQUIRE(b.send(10));
  auto v = late.try_receive();
  REQUIRE(v);
  CHECK(*v == 10);

  auto copy = fast.clone();  // at fast's position: 11 sent, the oldest held is 7
  CHECK(coring::lagged_count(copy.try_receive().error()) == 7);
  CHECK(b.receiver_count() == 4);
}

TEST_CASE("a waiting broadcast receiver that lags while parked gets the lag count first") {
  // One thread per pool: the woken receiver runs only after the burst that woke it ended.
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    coring::broadcast<int> b{2};
    auto rx = b.subscribe();
    auto body = [&]() -> task<std::uint64_t> {
      auto first = co_await rx.receive();
      CHECK_FALSE(first);
      const std::uint64_t missed = coring::lagged_count(first.error());
      auto next = co_await rx.receive();
      REQUIRE(next);
      CHECK(*next == 3);
      co_return missed;
    };
    auto h = coring::spawn(ex, body());
    std::this_thread::sleep_for(10ms);  // parks
    auto burst = [&]() -> task<void> {
      for (int i = 0; i < 5; ++i) REQUIRE(b.send(i));
      co_return;
    };
    rt.block_on(join(coring::spawn(ex, burst())));
    CHECK(rt.block_on(join(std::move(h))) == 3);  // 0, 1, 2 overwritten; 3 and 4 held
  }
}

TEST_CASE("closing a broadcast wakes its receivers, who drain what is held, then get broken_pipe") {
  runtime rt{coring_test::small_runtime()};
  auto b = std::make_unique<coring::broadcast<int>>(4);
  auto rx = b->subscribe();
  REQUIRE(b->send(1));
  b.reset();  // destroying the sender closes it
  auto body = [&]() -> task<void> {
    auto v = co_await rx.receive();
    REQUIRE(v);
    CHECK(*v == 1);
    auto end = co_await rx.receive();
    CHECK(end.error() == std::errc::broken_pipe);
  };
  rt.block_on(body());
  coring::broadcast<int> closed{1};
  closed.close();
  CHECK(closed.send(3).error() == std::errc::broken_pipe);
  CHECK_THROWS_AS(coring::broadcast<int>{0}, std::invalid_argument);
}

// ---- watch --------------------------------------------------------------------------------------

TEST_CASE("a watch receiver sees the latest value, once per batch of changes") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    coring::watch<int> w{0};
    auto rx = w.subscribe();
    CHECK_FALSE(rx.has_changed());
    CHECK(*rx.borrow() == 0);
    for (int i = 1; i <= 100; ++i) REQUIRE(w.send(i));
    CHECK(rx.has_changed());
    auto body = [&]() -> task<void> {
      auto r = co_await rx.changed();  // at once: a newer version exists
      REQUIRE(r);
      CHECK(*rx.borrow() == 100);  // the latest, not the 99 in between
      CHECK_FALSE(rx.has_changed());
      auto next = co_await coring::timeout(20ms, rx.changed());  // nothing new: it waits
      CHECK(next.error() == std::errc::timed_out);
    };
    rt.block_on(join(coring::spawn(ex, body())));
  }
}

TEST_CASE("a watch receiver waiting for a change resumes on its own pool with the new value") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    coring::watch<std::string> w{"a"};
    auto rx = w.subscribe();
    auto body = [&]() -> task<std::string> {
      auto r = co_await rx.changed();
      CHECK(ex.running_in_this_thread());
      REQUIRE(r);
      co_return std::string(*rx.borrow_and_update());
    };
    auto h = coring::spawn(ex, body());
    std::this_thread::sleep_for(10ms);
    REQUIRE(w.send_modify([](std::string& s) { s += "b"; }));
    CHECK(rt.block_on(join(std::move(h))) == "ab");
    CHECK(*w.borrow() == "ab");
  }
}

TEST_CASE("a closed watch reports broken_pipe once its last change was seen") {
  auto w = std::make_unique<coring::watch<int>>(1);
  auto rx = w->subscribe();
  REQUIRE(w->send(2));
  w.reset();  // destroying the sender closes it
  by_hand first([](coring::watch<int>::receiver& r) -> task<void> {
    auto c = co_await r.changed();
    CHECK(c);  // the unseen 2
    CHECK(*r.borrow() == 2);
    auto end = co_await r.changed();
    CHECK(end.error() == std::errc::broken_pipe);
  }(rx));
  CHECK(first.done());
  coring::watch<int> closed{0};
  closed.close();
  CHECK(closed.send(1).error() == std::errc::broken_pipe);
}

// ---- unbounded_channel --------------------------------------------------------------------------

TEST_CASE("an unbounded_channel send never waits, whatever is buffered") {
  runtime rt{coring_test::small_runtime()};
  for (auto& [pool, ex] : pools(rt)) {
    CAPTURE(pool);
    coring::unbounded_channel<int> ch;
    constexpr int n = 20000;
    auto producer = [&]() -> task<void> {
      for (int i = 0; i < n; ++i) REQUIRE(ch.send(i));  // a plain call: no suspension possible
      co_return;
    };
    rt.block_on(join(coring::spawn(ex, producer())));
    CHECK(ch.size() == n);
    auto consumer = [&]() -> task<void> {
      for (int i = 0; i < n; ++i) {
        auto v = co_await ch.receive();
        REQUIRE(v);
        CHECK(*v == i);
      }
    };
    rt.block_on(join(coring::spawn(ex, consumer())));
    CHECK(ch.size() == 0);
  }
}

TEST_CASE("unbounded_channel hands items to receivers waiting on both pools, each item once") {
  runtime rt{coring_test::small_runtime()};
  coring::unbounded_channel<int> ch;
  std::atomic<long> sum{0};
  std::atomic<int> got{0};
  auto consumer = [&](executor home) -> task<void> {
    for (;;) {
      auto v = co_await ch.receive();
      CHECK(home.running_in_this_thread());
      if (!v) {
        CHECK(v.error() == std::errc::broken_pipe);
        co_return;
      }
      sum.fetch_add(*v);
      got.fetch_add(1);
    }
  };
  std::vector<join_handle<void>> cs;
  for (int i = 0; i < 4; ++i) {
    const executor ex = i % 2 ? rt.cpu() : rt.io();
    cs.push_back(coring::spawn(ex, consumer(ex)));
  }
  auto producer = [&](int base) -> task<void> {
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(ch.send(base + i));
      if (i % 64 == 0) co_await coring::yield();
    }
  };
  auto a = coring::spawn(rt.io(), producer(0));
  auto b = coring::spawn(rt.cpu(), producer(1000));
  rt.block_on(join(std::move(a)));
  rt.block_on(join(std::move(b)));
  block_until([&] { return got.load() == 2000; });
  ch.close();
  for (auto& c : cs) rt.block_on(join(std::move(c)));
  CHECK(sum.load() == 2000L * 1999 / 2);
  CHECK(ch.send(1).error() == std::errc::broken_pipe);
  CHECK(ch.try_receive().error() == std::errc::broken_pipe);
}

TEST_CASE("new channels may be destroyed as soon as another thread's close or send is seen") {
  for (int i = 0; i < 300; ++i) {
    auto* ch = new coring::unbounded_channel<int>;
    std::thread closer([ch] { ch->close(); });
    while (!ch->is_closed()) std::this_thread::yield();
    delete ch;
    closer.join();

    auto* b = new coring::broadcast<int>{1};
    auto rx = b->subscribe();
    std::thread sender([b] { (void)b->send(1); });
    while (!rx.try_receive()) std::this_thread::yield();
    sender.join();  // the broadcast object itself is the sender: it must outlive send()
    delete b;
    CHECK(rx.try_receive().error() == std::errc::broken_pipe);

    auto* w = new coring::watch<int>{0};
    auto wrx = w->subscribe();
    std::thread watcher([w] { (void)w->send(1); });
    while (!wrx.has_changed()) std::this_thread::yield();
    watcher.join();
    delete w;
    CHECK(*wrx.borrow() == 1);  // the receiver keeps the state alive
  }
}
