// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/channel.hpp>
#include <coring/coring.hpp>
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::channel;
using coring::result;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

using coring_test::block_until;
using coring_test::by_hand;
using coring_test::wait_until;

/// Its move constructor throws when the item's value is `poison` (for the by-hand tests only).
struct fragile {
  static inline int poison = -1;
  int value;
  explicit fragile(int v) noexcept : value(v) {}
  fragile(fragile&& other) : value(other.value) {
    if (value == poison) throw std::runtime_error("poisoned move");
  }
};

}  // namespace

TEST_CASE("a channel's capacity must be at least one") {
  CHECK_THROWS_AS(channel<int>{0}, std::invalid_argument);
  channel<int> ch{3};
  CHECK(ch.capacity() == 3);
  CHECK(ch.size() == 0);
  CHECK_FALSE(ch.is_closed());
}

TEST_CASE("channel try_send fills the buffer up to capacity, then reports resource_unavailable_try_again") {
  channel<int> ch{2};
  CHECK(ch.try_send(1));
  const int two = 2;
  CHECK(ch.try_send(two));  // the copying overload
  CHECK(ch.size() == 2);
  auto full = ch.try_send(3);
  CHECK(full.error() == std::errc::resource_unavailable_try_again);
  CHECK(ch.size() == 2);
}

TEST_CASE(
    "channel try_receive takes items in FIFO order and reports resource_unavailable_try_again when empty") {
  channel<int> ch{3};
  CHECK(ch.try_receive().error() == std::errc::resource_unavailable_try_again);
  // Interleaved so that the ring buffer wraps around many times.
  int next_in = 0;
  int next_out = 0;
  for (int round = 0; round < 20; ++round) {
    while (ch.try_send(next_in)) ++next_in;
    CHECK(ch.size() == 3);
    for (int i = 0; i < 2; ++i) {
      auto r = ch.try_receive();
      REQUIRE(r);
      CHECK(*r == next_out++);
    }
  }
  while (auto r = ch.try_receive()) CHECK(*r == next_out++);
  CHECK(next_out == next_in);
  CHECK(ch.size() == 0);
  CHECK(ch.try_receive().error() == std::errc::resource_unavailable_try_again);
}

TEST_CASE(
    "a closed channel refuses try_send with broken_pipe and drains its buffer before try_receive fails") {
  channel<int> ch{4};
  CHECK(ch.try_send(1));
  CHECK(ch.try_send(2));
  ch.close();
  ch.close();  // idempotent
  CHECK(ch.is_closed());
  CHECK(ch.try_send(3).error() == std::errc::broken_pipe);
  CHECK(ch.try_receive().value() == 1);
  CHECK(ch.try_receive().value() == 2);
  CHECK(ch.try_receive().error() == std::errc::broken_pipe);
  CHECK(ch.try_receive().error() == std::errc::broken_pipe);
}

TEST_CASE("channel items sent from the CPU pool arrive in FIFO order on the io pool") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{4};
  constexpr int count = 10'000;
  std::atomic<int> wrong_pool{0};
  auto producer = [&]() -> task<void> {
    for (int i = 0; i < count; ++i) {
      CHECK(co_await ch.send(i));
      if (!rt.cpu().running_in_this_thread()) wrong_pool.fetch_add(1);
    }
    ch.close();
  };
  auto body = [&]() -> task<int> {
    auto h = coring::spawn(rt.cpu(), producer());
    int expected = 0;
    for (;;) {
      auto r = co_await ch.receive();
      if (!rt.io().running_in_this_thread()) wrong_pool.fetch_add(1);
      if (!r) {
        CHECK(r.error() == std::errc::broken_pipe);
        break;
      }
      if (*r != expected) {
        ch.close();  // out of order: stop the producer
        break;
      }
      ++expected;
    }
    co_await h;
    co_return expected;
  };
  CHECK(rt.block_on(body()) == count);
  CHECK(wrong_pool.load() == 0);
}

TEST_CASE("a send to a full channel suspends until a receive makes room, then resumes on its own pool") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{1};
  auto sender = [&](int v) -> task<std::error_code> {
    auto r = co_await ch.send(v);
    CHECK(rt.cpu().running_in_this_thread());
    co_return r.error();
  };
  auto body = [&]() -> task<void> {
    CHECK(co_await ch.send(1));  // room: does not wait
    auto h = coring::spawn(rt.cpu(), sender(2));
    (void)co_await coring::sleep_for(10ms);
    CHECK_FALSE(h.done());  // nobody received: the sender is still waiting
    CHECK(ch.size() == 1);
    auto first = co_await ch.receive();
    CHECK(first.value() == 1);
    CHECK(co_await h == std::error_code{});
    CHECK(rt.io().running_in_this_thread());
    auto second = co_await ch.receive();
    CHECK(second.value() == 2);
  };
  rt.block_on(body());
}

TEST_CASE("a receiver waiting on an empty channel resumes on its own pool, CPU or io") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{2};
  auto receiver = [&](coring::executor home) -> task<int> {
    auto r = co_await ch.receive();
    CHECK(home.running_in_this_thread());
    co_return r.value();
  };
  auto body = [&]() -> task<void> {
    auto on_cpu = coring::spawn(rt.cpu(), receiver(rt.cpu()));
    (void)co_await coring::sleep_for(5ms);
    CHECK(co_await ch.send(7));  // sent from the io pool
    CHECK(co_await on_cpu == 7);

    auto on_io = coring::spawn(rt.io(), receiver(rt.io()));
    co_await coring::on(rt.cpu());
    (void)co_await coring::sleep_for(5ms);
    CHECK(co_await ch.send(8));  // sent from the CPU pool
    CHECK(co_await on_io == 8);
    CHECK(rt.cpu().running_in_this_thread());
  };
  rt.block_on(body());
}

TEST_CASE("a send to a channel with a waiting receiver hands the item over without using the buffer") {
  channel<int> ch{1};
  auto receive = [&]() -> task<result<int>> { co_return co_await ch.receive(); };
  by_hand<result<int>> first(receive());
  by_hand<result<int>> second(receive());
  CHECK_FALSE(first.done());
  CHECK_FALSE(second.done());
  CHECK(ch.try_send(1));  // to the first receiver, which resumes inline (it has no home pool)
  CHECK(first.done());
  CHECK_FALSE(second.done());
  CHECK(ch.size() == 0);
  auto send = [&](int v) -> task<result<void>> { co_return co_await ch.send(v); };
  by_hand<result<void>> sender(send(2));  // to the second receiver
  CHECK(sender.done());
  CHECK(second.done());
  CHECK(ch.size() == 0);
  CHECK(first.take().value() == 1);
  CHECK(second.take().value() == 2);
  CHECK(ch.try_send(3));  // nobody waits any more: buffered
  CHECK(ch.size() == 1);
}

TEST_CASE(
    "a receive from a full channel moves the first waiting sender's item into the buffer and wakes it") {
  channel<int> ch{1};
  CHECK(ch.try_send(1));
  auto send = [&](int v) -> task<result<void>> { co_return co_await ch.send(v); };
  by_hand<result<void>> a(send(2));
  by_hand<result<void>> b(send(3));
  CHECK_FALSE(a.done());
  CHECK_FALSE(b.done());
  CHECK(ch.try_receive().value() == 1);
  CHECK(a.done());  // its item took the freed slot
  CHECK_FALSE(b.done());
  CHECK(ch.size() == 1);
  auto receive = [&]() -> task<result<int>> { co_return co_await ch.receive(); };
  by_hand<result<int>> r(receive());
  CHECK(r.done());
  CHECK(r.take().value() == 2);
  CHECK(b.done());
  CHECK(ch.try_receive().value() == 3);
  CHECK(a.take());
  CHECK(b.take());
}

TEST_CASE(
    "closing a channel wakes its waiting senders with broken_pipe, on their own pools, and drops their "
    "items") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{1};
  REQUIRE(ch.try_send(1));
  std::atomic<int> started{0};
  auto sender = [&](int v, coring::executor home) -> task<std::error_code> {
    started.fetch_add(1);
    auto r = co_await ch.send(v);
    CHECK(home.running_in_this_thread());
    co_return r.error();
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<std::error_code>> hs;
    for (int i = 0; i < 4; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      hs.push_back(coring::spawn(ex, sender(10 + i, ex)));
    }
    co_await wait_until([&] { return started.load() == 4; });
    (void)co_await coring::sleep_for(5ms);
    for (auto& h : hs) CHECK_FALSE(h.done());
    ch.close();
    for (auto& h : hs) CHECK(co_await h == std::errc::broken_pipe);
  };
  rt.block_on(body());
  CHECK(ch.try_receive().value() == 1);  // only the item buffered before close()
  CHECK(ch.try_receive().error() == std::errc::broken_pipe);
}

TEST_CASE("closing an empty channel wakes its waiting receivers with broken_pipe, on their own pools") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{4};
  std::atomic<int> started{0};
  auto receiver = [&](coring::executor home) -> task<std::error_code> {
    started.fetch_add(1);
    auto r = co_await ch.receive();
    CHECK(home.running_in_this_thread());
    co_return r.error();
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<std::error_code>> hs;
    for (int i = 0; i < 4; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      hs.push_back(coring::spawn(ex, receiver(ex)));
    }
    co_await wait_until([&] { return started.load() == 4; });
    (void)co_await coring::sleep_for(5ms);
    for (auto& h : hs) CHECK_FALSE(h.done());
    ch.close();
    for (auto& h : hs) CHECK(co_await h == std::errc::broken_pipe);
  };
  rt.block_on(body());
}

TEST_CASE("a closed channel still delivers its buffered items to receive, then broken_pipe") {
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{4};
  auto body = [&]() -> task<void> {
    for (int i = 1; i <= 3; ++i) CHECK(co_await ch.send(i));
    ch.close();
    CHECK((co_await ch.send(4)).error() == std::errc::broken_pipe);
    co_await coring::on(rt.cpu());
    for (int i = 1; i <= 3; ++i) CHECK((co_await ch.receive()).value() == i);
    CHECK((co_await ch.receive()).error() == std::errc::broken_pipe);
  };
  rt.block_on(body());
}

TEST_CASE(
    "4 producers and 4 consumers on both pools pass 200000 items through a channel of 16, each exactly "
    "once") {
  constexpr int total = 200'000;
  constexpr int producers = 4;
  constexpr int consumers = 4;
  runtime rt{coring_test::small_runtime()};
  channel<int> ch{16};
  std::vector<std::atomic<int>> seen(total);
  std::atomic<int> producers_left{producers};
  std::atomic<int> wrong_pool{0};
  std::atomic<int> failed_sends{0};
  std::atomic<int> bad_errors{0};

  auto producer = [&](int first, coring::executor home) -> task<void> {
    for (int v = first; v < total; v += producers) {
      if (!co_await ch.send(v)) failed_sends.fetch_add(1);
      if (!home.running_in_this_thread()) wrong_pool.fetch_add(1);
    }
    if (producers_left.fetch_sub(1) == 1) ch.close();  // the last producer closes
  };
  auto consumer = [&](coring::executor home) -> task<int> {
    int received = 0;
    for (;;) {
      auto r = co_await ch.receive();
      if (!home.running_in_this_thread()) wrong_pool.fetch_add(1);
      if (!r) {
        if (r.error() != std::errc::broken_pipe) bad_errors.fetch_add(1);
        co_return received;
      }
      seen[static_cast<std::size_t>(*r)].fetch_add(1, std::memory_order_relaxed);
      ++received;
    }
  };
  auto body = [&]() -> task<int> {
    std::vector<coring::join_handle<void>> ps;
    std::vector<coring::join_handle<int>> cs;
    for (int i = 0; i < consumers; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      cs.push_back(coring::spawn(ex, consumer(ex)));
    }
    for (int i = 0; i < producers; ++i) {
      coring::executor ex = i % 2 ? rt.cpu() : rt.io();
      ps.push_back(coring::spawn(ex, producer(i, ex)));
    }
    for (auto& p : ps) co_await p;
    int received = 0;
    for (auto& c : cs) received += co_await c;
    co_return received;
  };

  CHECK(rt.block_on(body()) == total);
  CHECK(failed_sends.load() == 0);
  CHECK(bad_errors.load() == 0);
  CHECK(wrong_pool.load() == 0);
  int not_once = 0;
  for (auto& s : seen) not_once += s.load() == 1 ? 0 : 1;
  CHECK(not_once == 0);
  CHECK(ch.size() == 0);
}

TEST_CASE("a channel of move-only items (std::unique_ptr) moves them through") {
  channel<std::unique_ptr<int>> ch{1};
  auto p = std::make_unique<int>(1);
  CHECK(ch.try_send(std::move(p)));
  CHECK(p == nullptr);
  auto q = std::make_unique<int>(2);
  CHECK(ch.try_send(std::move(q)).error() == std::errc::resource_unavailable_try_again);
  REQUIRE(q != nullptr);  // a failed try_send leaves its argument alone
  CHECK(*q == 2);

  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<int> {
    auto producer = [&]() -> task<void> {
      for (int i = 2; i <= 100; ++i) CHECK(co_await ch.send(std::make_unique<int>(i)));
      ch.close();
    };
    auto h = coring::spawn(rt.cpu(), producer());
    int sum = 0;
    while (auto r = co_await ch.receive()) {
      REQUIRE(*r != nullptr);
      sum += **r;
    }
    co_await h;
    co_return sum;
  };
  CHECK(rt.block_on(body()) == 5050);
}

TEST_CASE("shutdown destroys tasks parked on channel send and receive, and the channel stays usable") {
  counted::alive = 0;
  std::atomic<int> parked{0};
  {
    channel<int> empty{1};     // receivers park here
    channel<counted> full{1};  // senders park here
    REQUIRE(full.try_send(counted{}));
    {
      runtime rt{coring_test::small_runtime()};
      auto receiver = [&](counted) -> task<void> {
        parked.fetch_add(1);
        (void)co_await empty.receive();
        FAIL("the receive must never complete");
      };
      auto sender = [&](counted) -> task<void> {
        parked.fetch_add(1);
        (void)co_await full.send(counted{});
        FAIL("the send must never complete");
      };
      for (int i = 0; i < 4; ++i) {
        coring::executor ex = i % 2 ? rt.cpu() : rt.io();
        coring::spawn(ex, receiver(counted{})).detach();
        coring::spawn(ex, sender(counted{})).detach();
      }
      block_until([&] { return parked.load() == 8; });
      std::this_thread::sleep_for(10ms);  // let them reach their co_await
      rt.shutdown();
      CHECK(counted::alive == 1);  // only the item in full's buffer
    }
    // The destroyed waiters unlinked themselves: the channels work as if they had never waited.
    CHECK(empty.try_send(5));
    CHECK(empty.try_receive().value() == 5);
    empty.close();
    CHECK(full.try_receive());
    CHECK(counted::alive == 0);
    CHECK(full.try_send(counted{}));
    full.close();
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("a channel stays consistent when moving an item throws") {
  channel<fragile> ch{1};
  fragile::poison = -1;

  // A receive whose move throws leaves the item buffered.
  REQUIRE(ch.try_send(fragile{7}));
  fragile::poison = 7;
  CHECK_THROWS_AS((void)ch.try_receive(), std::runtime_error);
  CHECK(ch.size() == 1);
  fragile::poison = -1;
  CHECK(ch.try_receive().value().value == 7);

  // A hand-off whose move throws fails the send and leaves the receiver waiting.
  auto receive = [&]() -> task<result<fragile>> { co_return co_await ch.receive(); };
  {
    by_hand<result<fragile>> r(receive());
    REQUIRE_FALSE(r.done());
    fragile::poison = 8;
    CHECK_THROWS_AS((void)ch.try_send(fragile{8}), std::runtime_error);
    CHECK_FALSE(r.done());
    fragile::poison = -1;
    CHECK(ch.try_send(fragile{9}));
    REQUIRE(r.done());
    CHECK(r.take().value().value == 9);
  }

  // A waiting sender whose item cannot be moved into the freed slot gets the exception.
  REQUIRE(ch.try_send(fragile{1}));
  auto send = [&](int v) -> task<result<void>> { co_return co_await ch.send(fragile{v}); };
  by_hand<result<void>> s(send(2));
  REQUIRE_FALSE(s.done());
  fragile::poison = 2;
  CHECK(ch.try_receive().value().value == 1);
  fragile::poison = -1;
  REQUIRE(s.done());
  CHECK_THROWS_AS((void)s.take(), std::runtime_error);
  CHECK(ch.size() == 0);
  CHECK(ch.try_receive().error() == std::errc::resource_unavailable_try_again);
}
