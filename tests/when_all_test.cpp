// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/when_all.hpp>
#include <coring/when_any.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;

namespace {

task<int> value_after(int value, std::chrono::milliseconds delay) {
  (void)co_await coring::sleep_for(delay);
  co_return value;
}

}  // namespace

TEST_CASE("when_all gives every result in argument order, void as monostate") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto nothing = []() -> task<void> { co_return; };
  auto word = []() -> task<std::string> { co_return "two"; };
  auto body = [&]() -> task<void> {
    auto [a, b, c] = co_await coring::when_all(value_after(1, 5ms), word(), nothing());
    CHECK(a == 1);
    CHECK(b == "two");
    CHECK(c == std::monostate{});
  };
  rt.block_on(body());
}

TEST_CASE("a when_all of a pack can be stored, moved, nested, converted to a task and spawned") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto body = [&]() -> task<int> {
    auto pending = coring::when_all(value_after(1, 1ms), value_after(2, 0ms));
    auto moved = std::move(pending);  // nothing started yet: it only holds the tasks
    auto [a, b] = co_await moved;
    task<std::tuple<int, int>> as_task = coring::when_all(value_after(3, 1ms), value_after(4, 0ms));
    auto [c, d] = co_await as_task;
    auto handle = coring::spawn(
        rt.cpu(), task<std::tuple<int, int>>(coring::when_all(value_after(5, 1ms), value_after(6, 0ms))));
    auto [e, f] = co_await handle;
    auto [inner, g] = co_await coring::when_all(coring::when_all(value_after(7, 1ms), value_after(8, 0ms)),
                                                value_after(9, 0ms));
    co_return a + b + c + d + e + f + std::get<0>(inner) + std::get<1>(inner) + g;
  };
  CHECK(rt.block_on(body()) == 45);
}

TEST_CASE("when_all with an empty task is a clear error") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<void> {
    task<int> empty;
    CHECK_THROWS_AS(co_await coring::when_all(value_after(1, 0ms), std::move(empty)), std::invalid_argument);
  };
  rt.block_on(body());
}

TEST_CASE("when_all runs the children concurrently on the awaiting task's pool") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto child = [&]() -> task<bool> {
    const int now = inside.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    (void)co_await coring::sleep_for(10ms);
    inside.fetch_sub(1);
    co_return rt.cpu().running_in_this_thread();
  };
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    std::vector<task<bool>> children;
    for (int i = 0; i < 8; ++i) children.push_back(child());
    const std::vector<bool> on_cpu = co_await coring::when_all(std::move(children));
    CHECK(on_cpu == std::vector<bool>(8, true));
    CHECK(rt.cpu().running_in_this_thread());
  };
  rt.block_on(body());
  CHECK(most.load() == 8);  // all eight were asleep at once
}

TEST_CASE("an exception in one child of when_all of 1000 stops the others and is rethrown") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::counted::alive = 0;
  std::atomic<int> canceled{0};
  std::atomic<int> started{0};
  auto sleeper = [&](coring_test::counted) -> task<int> {
    started.fetch_add(1);
    auto r = co_await coring::sleep_for(1h);
    if (r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
    co_return 0;
  };
  auto failing = []() -> task<int> {
    (void)co_await coring::sleep_for(5ms);
    throw std::runtime_error("child 500 failed");
  };
  auto body = [&]() -> task<std::string> {
    std::vector<task<int>> children;
    for (int i = 0; i < 1000; ++i) children.push_back(i == 500 ? failing() : sleeper(coring_test::counted{}));
    try {
      (void)co_await coring::when_all(std::move(children));
    } catch (const std::runtime_error& e) {
      CHECK(coring_test::counted::alive == 0);  // every child was awaited before the rethrow
      co_return e.what();
    }
    co_return "nothing thrown";
  };
  CHECK(rt.block_on(body()) == "child 500 failed");
  // Every child that had started sleeping saw operation_canceled; the others never started.
  CHECK(canceled.load() == started.load());
  CHECK(rt.metrics().tasks_alive <= 1);
}

TEST_CASE("canceling the task awaiting when_all reaches every child") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  coring_test::hour_sleepers s;
  auto parent = [&]() -> task<void> {
    (void)co_await coring::when_all(s.sleeper(), s.sleeper(), s.sleeper());
  };
  rt.block_on(coring_test::cancel_once_asleep(rt.io(), parent(), s, 3));
  CHECK(s.canceled.load() == 3);
}

TEST_CASE("canceling reaches a sleep two when_all levels down, forked inline on the io loop") {
  // Every level runs its first child inline; the stop links are made only once a child suspends.
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  coring_test::hour_sleepers s;
  auto quick = []() -> task<void> { co_return; };
  // The child that suspends is the last of its group, after one that finished inline.
  auto middle = [&]() -> task<void> { (void)co_await coring::when_all(quick(), s.sleeper()); };
  auto parent = [&]() -> task<void> { (void)co_await coring::when_all(quick(), middle()); };
  rt.block_on(coring_test::cancel_once_asleep(rt.io(), parent(), s, 1));
  CHECK(s.canceled.load() == 1);
}

TEST_CASE("when_all in a task already asked to stop runs none of its children") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<int> ran{0};
  std::atomic<bool> waiting{false};
  auto child = [&]() -> task<int> {
    ran.fetch_add(1);
    co_return 1;
  };
  auto parent = [&]() -> task<int> {
    waiting = true;
    auto r = co_await coring::sleep_for(1h);
    REQUIRE(r.error() == std::errc::operation_canceled);
    auto [a, b] = co_await coring::when_all(child(), child());
    co_return a + b;
  };
  auto body = [&]() -> task<void> {
    auto h = coring::spawn(rt.io(), parent());  // a loop forks inline: nothing else stops them
    while (!waiting.load()) (void)co_await coring::sleep_for(1ms);
    h.cancel();
    try {
      (void)co_await h;
      FAIL("when_all gave a result");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::operation_canceled);
    }
  };
  rt.block_on(body());
  CHECK(ran.load() == 0);
}

TEST_CASE("when_any returns the first to finish and cancels the others") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> losers_canceled{0};
  auto slow = [&](int v) -> task<int> {
    auto r = co_await coring::sleep_for(1h);
    if (!r) losers_canceled.fetch_add(1);
    co_return v;
  };
  auto body = [&]() -> task<void> {
    auto result = co_await coring::when_any(slow(1), value_after(2, 5ms), slow(3));
    CHECK(result.index == 1);
    CHECK(std::get<1>(result.value) == 2);
  };
  rt.block_on(body());
  CHECK(losers_canceled.load() == 2);  // awaited before when_any returned
}

TEST_CASE("when_any between a read that never completes and a timer cancels the read in the kernel") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::error_code read_error;
  auto reader = [&]() -> task<void> {
    char buffer[64];
    coring::file end{::dup(fds[0])};
    auto r = co_await end.read_at(buffer, 0);  // nobody writes: only a cancel ends it
    read_error = r.error();
  };
  auto timer = []() -> task<void> { (void)co_await coring::sleep_for(10ms); };
  auto body = [&]() -> task<std::size_t> {
    co_await coring::on(rt.cpu());
    auto result = co_await coring::when_any(reader(), timer());
    co_return result.index;
  };
  CHECK(rt.block_on(body()) == 1);
  CHECK(read_error == std::errc::operation_canceled);
  // Had the kernel kept the read, this write would go to it (into a freed frame) instead.
  CHECK(::write(fds[1], "x", 1) == 1);
  char back = 0;
  CHECK(::read(fds[0], &back, 1) == 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("when_any rethrows the winner's exception and over a vector gives index and value") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto failing = []() -> task<int> {
    throw std::logic_error("first and failing");
    co_return 0;
  };
  auto body = [&]() -> task<void> {
    CHECK_THROWS_AS(co_await coring::when_any(failing(), value_after(1, 1h)), std::logic_error);
    std::vector<task<int>> children;
    children.push_back(value_after(10, 1h));
    children.push_back(value_after(20, 1ms));
    auto [index, value] = co_await coring::when_any(std::move(children));
    CHECK(index == 1);
    CHECK(value == 20);
  };
  rt.block_on(body());
}

TEST_CASE("when_all and when_any accept any awaitable, not only tasks") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto body = [&]() -> task<void> {
    auto [slept, value] = co_await coring::when_all(coring::sleep_for(2ms), value_after(7, 1ms));
    CHECK(slept);
    CHECK(value == 7);
    auto first = co_await coring::when_any(coring::sleep_for(1h), coring::sleep_for(1ms));
    CHECK(first.index == 1);
    auto h = coring::spawn(rt.cpu(), value_after(3, 1ms));
    auto [joined] = co_await coring::when_all(h);
    CHECK(joined == 3);
  };
  rt.block_on(body());
}

namespace {

task<void> wait_for(coring::async_event& event, std::atomic<int>& order, int& waited_at) {
  co_await event.wait();
  waited_at = order.fetch_add(1);
}

task<void> set_event(coring::async_event& event, std::atomic<int>& order, int& set_at) {
  set_at = order.fetch_add(1);
  event.set();
  co_return;
}

task<long> chain(long depth) {
  if (depth == 0) co_return 0;
  auto [below] = co_await coring::when_all(chain(depth - 1));
  co_return below + 1;
}

}  // namespace

TEST_CASE("a when_all child that waits lets its later siblings run, on either pool") {
  // On an io loop (and on a busy CPU worker) children first run inline, one after another: the
  // child that waits for its sibling must not keep that sibling from starting.
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    coring::async_event event;
    std::atomic<int> order{0};
    int waited_at = -1;
    int set_at = -1;
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      co_await coring::when_all(wait_for(event, order, waited_at), set_event(event, order, set_at));
      CHECK(where.running_in_this_thread());
    };
    rt.block_on(body());
    CHECK(set_at == 0);
    CHECK(waited_at == 1);
  }
}

#if defined(__GNUC__) && !defined(__clang__) && \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
// g++ 12's sanitizer instrumentation keeps symmetric transfer from being a sibling call (see
// task_test.cpp), so resuming 100,000 parents one from the other needs that much stack there.
constexpr long nesting_depth = 1'000;
#else
constexpr long nesting_depth = 100'000;
#endif

TEST_CASE("nested when_all 100,000 levels deep does not grow the stack without bound") {
  // Inline runs nest at most max_inline_depth levels; deeper forks go through the queue.
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<long> {
      co_await coring::on(where);
      co_return co_await chain(nesting_depth);
    };
    CHECK(rt.block_on(body()) == nesting_depth);
  }
}

TEST_CASE("a failing when_all child stops the siblings that had not started yet") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<int> ran{0};
  auto fail = []() -> task<int> {
    throw std::runtime_error("first");
    co_return 0;
  };
  auto count = [&]() -> task<int> {
    ran.fetch_add(1);
    co_return 1;
  };
  auto body = [&]() -> task<void> {
    // On the io loop the children run inline in order: the failure comes before the others start.
    (void)co_await coring::when_all(fail(), count(), count());
  };
  CHECK_THROWS_WITH_AS(rt.block_on(body()), "first", std::runtime_error);
  CHECK(ran.load() == 0);
}

TEST_CASE("when_all of 200,000 children on two CPU workers gives every result in order") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto leaf = [](long i) -> task<long> { co_return i * 2; };
  auto body = [&]() -> task<bool> {
    co_await coring::on(rt.cpu());
    std::vector<task<long>> children;
    constexpr long n = 200'000;
    children.reserve(n);
    for (long i = 0; i < n; ++i) children.push_back(leaf(i));
    const std::vector<long> values = co_await coring::when_all(std::move(children));
    bool in_order = values.size() == static_cast<std::size_t>(n);
    for (long i = 0; in_order && i < n; ++i) in_order = values[static_cast<std::size_t>(i)] == i * 2;
    co_return in_order;
  };
  CHECK(rt.block_on(body()));
}
