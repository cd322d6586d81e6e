// SPDX-License-Identifier: MIT
// coring::generator (synchronous, a range) and coring::async_generator (co_await and co_yield).
#include <doctest/doctest.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <coring/async_event.hpp>
#include <coring/async_generator.hpp>
#include <coring/coring.hpp>
#include <coring/generator.hpp>
#include <fstream>
#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_generator;
using coring::generator;
using coring::runtime;
using coring::task;
using coring_test::counted;
using coring_test::small_runtime;

namespace {

static_assert(std::ranges::input_range<generator<int>>);
static_assert(std::ranges::input_range<generator<const std::string&>>);
static_assert(std::ranges::input_range<generator<std::unique_ptr<int>>>);
static_assert(std::same_as<std::ranges::range_reference_t<generator<int>>, int&>);
static_assert(
    std::same_as<std::ranges::range_reference_t<generator<const std::string&>>, const std::string&>);

generator<int> count_to(int n, std::atomic<int>* started = nullptr) {
  if (started != nullptr) started->fetch_add(1);
  for (int i = 1; i <= n; ++i) co_yield i;
}

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

}  // namespace

// ---- generator<T> -----------------------------------------------------------------------------

TEST_CASE("a generator runs only when iterated and yields its values in order") {
  std::atomic<int> started{0};
  auto gen = count_to(4, &started);
  CHECK(started.load() == 0);  // lazy
  std::vector<int> seen;
  for (int i : gen) seen.push_back(i);
  CHECK(started.load() == 1);
  CHECK(seen == std::vector<int>{1, 2, 3, 4});
  std::vector<int> piped;
  for (int i : count_to(6) | std::views::filter([](int i) { return i % 2 == 0; })) piped.push_back(i);
  CHECK(piped == std::vector<int>{2, 4, 6});
}

TEST_CASE("a generator yields move-only values, copies of lvalues, and references") {
  auto owners = []() -> generator<std::unique_ptr<int>> {
    co_yield std::make_unique<int>(1);
    auto two = std::make_unique<int>(2);
    co_yield std::move(two);
  };
  std::vector<int> got;
  for (std::unique_ptr<int>& p : owners()) {
    std::unique_ptr<int> taken = std::move(p);  // the yielded object itself may be moved from
    got.push_back(*taken);
  }
  CHECK(got == std::vector<int>{1, 2});

  auto words = []() -> generator<std::string> {
    std::string word = "first";
    co_yield word;  // an lvalue is copied: the consumer may move from its copy
    CHECK(word == "first");
    co_yield "second";  // converted
  };
  std::vector<std::string> texts;
  for (std::string& s : words()) texts.push_back(std::move(s));
  CHECK(texts == std::vector<std::string>{"first", "second"});

  int values[3] = {1, 2, 3};
  auto refs = [](int* v) -> generator<int&> {
    for (int i = 0; i < 3; ++i) co_yield v[i];
  };
  for (int& v : refs(values)) v *= 10;
  CHECK(values[0] == 10);
  CHECK(values[2] == 30);
}

TEST_CASE("an exception thrown by a generator's body propagates to the loop that consumes it") {
  auto failing = []() -> generator<int> {
    co_yield 1;
    throw boom{};
  };
  std::vector<int> seen;
  auto gen = failing();
  CHECK_THROWS_AS(
      [&] {
        for (int i : gen) seen.push_back(i);
      }(),
      boom);
  CHECK(seen == std::vector<int>{1});
  CHECK(gen.begin() == std::default_sentinel);  // ended

  auto at_once = []() -> generator<int> {
    throw boom{};
    co_return;
  };
  auto first = at_once();
  CHECK_THROWS_AS((void)first.begin(), boom);
}

TEST_CASE("destroying a generator part-way destroys its suspended frame and locals") {
  counted::alive = 0;
  {
    auto holding = []() -> generator<int> {
      counted local;
      for (int i = 0;; ++i) co_yield i;
    };
    auto gen = holding();
    auto it = gen.begin();
    CHECK(*it == 0);
    ++it;
    CHECK(*it == 1);
    CHECK(counted::alive.load() == 1);
  }
  CHECK(counted::alive.load() == 0);
  {
    auto never = [](counted) -> generator<int> { co_yield 1; };
    auto gen = never(counted{});  // never started: its parameter lives in the frame
    CHECK(counted::alive.load() == 1);
  }
  CHECK(counted::alive.load() == 0);
  generator<int> empty;
  CHECK(empty.begin() == empty.end());  // an empty generator is an empty range
}

// ---- async_generator<T> ------------------------------------------------------------------------

namespace {

/// Reads `path` through the ring, `piece` bytes per yield.
async_generator<std::string> file_pieces(std::string path, std::size_t piece) {
  auto opened = co_await coring::file::open(path, O_RDONLY);
  if (!opened) throw std::system_error(opened.error());
  std::uint64_t offset = 0;
  for (;;) {
    std::string buffer(piece, '\0');
    auto n = co_await opened->read_at(std::span<char>(buffer), offset);
    if (!n) throw std::system_error(n.error());
    if (*n == 0) co_return;
    buffer.resize(*n);
    offset += *n;
    co_yield std::move(buffer);
  }
}

}  // namespace

TEST_CASE("an async generator does I/O between its yields and its consumer resumes on its own pool") {
  runtime rt{small_runtime()};
  coring_test::temp_dir dir;
  const std::string path = dir.path("data");
  std::string content;
  for (int i = 0; i < 1000; ++i) content += std::to_string(i) + ",";
  std::ofstream(path) << content;
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto consumer = [&]() -> task<std::string> {
      co_await coring::on(where);
      auto pieces = file_pieces(path, 97);
      std::string got;
      int yields = 0;
      while (auto piece = co_await pieces.next()) {
        CHECK(where.running_in_this_thread());
        got += *piece;
        ++yields;
      }
      CHECK(yields == static_cast<int>((content.size() + 96) / 97));
      CHECK_FALSE(co_await pieces.next());  // the end stays the end
      co_return got;
    };
    CHECK(rt.block_on(consumer()) == content);
  }
}

TEST_CASE(
    "an async generator does nothing until the first next() and yields move-only and reference values") {
  runtime rt{small_runtime()};
  std::atomic<int> started{0};
  auto owners = [&]() -> async_generator<std::unique_ptr<int>> {
    started.fetch_add(1);
    co_yield std::make_unique<int>(1);
    (void)co_await coring::sleep_for(1ms);
    auto two = std::make_unique<int>(2);
    co_yield std::move(two);
  };
  int values[2] = {1, 2};
  auto refs = [](int* v) -> async_generator<int&> {
    co_yield v[0];
    co_await coring::yield();
    co_yield v[1];
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    started = 0;
    auto body = [&]() -> task<int> {
      co_await coring::on(where);
      auto gen = owners();
      (void)co_await coring::sleep_for(5ms);
      CHECK(started.load() == 0);  // lazy
      int sum = 0;
      while (std::optional<std::unique_ptr<int>> p = co_await gen.next()) sum += **p;
      CHECK(started.load() == 1);
      auto r = refs(values);
      while (int* v = co_await r.next()) *v += 100;
      co_return sum;
    };
    CHECK(rt.block_on(body()) == 3);
  }
  CHECK(values[0] == 201);
  CHECK(values[1] == 202);
}

TEST_CASE("an exception thrown in an async generator's body is rethrown by next(), once") {
  runtime rt{small_runtime()};
  auto failing = []() -> async_generator<int> {
    co_yield 1;
    (void)co_await coring::sleep_for(1ms);
    throw boom{};
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      auto gen = failing();
      auto first = co_await gen.next();
      REQUIRE(first);
      CHECK(*first == 1);
      CHECK_THROWS_AS((void)co_await gen.next(), boom);
      CHECK(where.running_in_this_thread());
      CHECK(gen.done());
      CHECK_FALSE(co_await gen.next());  // then the end
    };
    rt.block_on(body());
  }
  async_generator<int> empty;
  auto misuse = [&]() -> task<void> { (void)co_await empty.next(); };
  CHECK_THROWS_AS(rt.block_on(misuse()), std::logic_error);
}

TEST_CASE("destroying a suspended async generator destroys its frame, started or not") {
  runtime rt{small_runtime()};
  counted::alive = 0;
  auto holding = []() -> async_generator<int> {
    counted local;
    for (int i = 0;; ++i) {
      (void)co_await coring::sleep_for(0ms);
      co_yield i;
    }
  };
  auto never = [](counted) -> async_generator<int> { co_yield 1; };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(where);
      {
        auto gen = holding();
        for (int i = 0; i < 3; ++i) CHECK(*(co_await gen.next()) == i);
        CHECK(counted::alive.load() == 1);
      }
      CHECK(counted::alive.load() == 0);
      {
        auto gen = never(counted{});
        CHECK(counted::alive.load() == 1);
      }
      CHECK(counted::alive.load() == 0);
    };
    rt.block_on(body());
  }
}

TEST_CASE("an async generator that moves to another pool resumes its consumer on the consumer's pool") {
  runtime rt{small_runtime()};
  auto travelling = [&](coring::executor away) -> async_generator<bool> {
    for (int i = 0; i < 20; ++i) {
      co_await coring::on(away);
      co_yield away.running_in_this_thread();
    }
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    const coring::executor away = where == rt.io() ? rt.cpu() : rt.io();
    auto body = [&]() -> task<int> {
      co_await coring::on(where);
      auto gen = travelling(away);
      int count = 0;
      while (auto was_away = co_await gen.next()) {
        CHECK(*was_away);
        CHECK(where.running_in_this_thread());
        ++count;
      }
      co_return count;
    };
    CHECK(rt.block_on(body()) == 20);
  }
}

TEST_CASE("a stop request reaches the wait an async generator is suspended on; the next next() is canceled") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    std::atomic<bool> asleep{false};
    std::atomic<bool> sleep_canceled{false};
    std::atomic<bool> resumed_after_stop{false};
    auto sleepy = [&]() -> async_generator<int> {
      asleep = true;
      auto r = co_await coring::sleep_for(1h);
      sleep_canceled = r.error() == std::errc::operation_canceled;
      co_yield 1;
      resumed_after_stop = true;  // never: the next next() does not resume the body
      co_yield 2;
    };
    std::atomic<int> first{0};
    auto consumer = [&]() -> task<void> {
      auto gen = sleepy();
      auto v = co_await gen.next();
      first = v ? *v : -1;
      (void)co_await gen.next();  // throws operation_canceled
      first = -2;
    };
    auto test = [&]() -> task<void> {
      auto h = coring::spawn(where, consumer());
      co_await coring_test::wait_until([&] { return asleep.load(); });
      h.cancel();
      try {
        co_await h;
        FAIL("the consumer should end with operation_canceled");
      } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_canceled);
      }
    };
    rt.block_on(test());
    CHECK(sleep_canceled.load());
    CHECK(first.load() == 1);
    CHECK_FALSE(resumed_after_stop.load());
  }
}

TEST_CASE("a canceled wait on a primitive inside an async generator ends next() with operation_canceled") {
  runtime rt{small_runtime()};
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    coring::async_event never_set;
    std::atomic<bool> waiting{false};
    auto waits = [&]() -> async_generator<int> {
      waiting = true;
      co_await never_set.wait();  // throws operation_canceled when the consumer is stopped
      co_yield 1;
    };
    auto consumer = [&]() -> task<int> {
      auto gen = waits();
      auto v = co_await gen.next();
      co_return v ? *v : 0;
    };
    auto test = [&]() -> task<void> {
      auto h = coring::spawn(where, consumer());
      co_await coring_test::wait_until([&] { return waiting.load(); });
      h.cancel();
      CHECK_THROWS_AS((void)co_await h, std::system_error);
    };
    rt.block_on(test());
  }
}

TEST_CASE("a runtime shut down while an async generator's body waits destroys both frames") {
  counted::alive = 0;
  std::atomic<bool> waiting{false};
  {
    runtime rt{small_runtime()};
    auto forever = [&]() -> async_generator<int> {
      counted local;
      waiting = true;
      (void)co_await coring::sleep_for(1h);
      co_yield 1;
    };
    auto consumer = [&]() -> task<void> {
      auto gen = forever();
      (void)co_await gen.next();
    };
    coring::spawn_detached(rt.cpu(), consumer());
    coring_test::block_until([&] { return waiting.load(); });
  }
  CHECK(counted::alive.load() == 0);
}
