// SPDX-License-Identifier: MIT
// No exception is silently lost: what the combinators cannot hand to the awaiting task goes to the
// unhandled-exception handler of the runtime or event_loop, and the default handler says what it was.
#include <doctest/doctest.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/detail/unhandled.hpp>
#include <coring/event_loop.hpp>
#include <coring/task_group.hpp>
#include <coring/when_all.hpp>
#include <coring/when_any.hpp>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::executor;
using coring::runtime;
using coring::task;

namespace coring_test_errors {
struct disk_full : std::runtime_error {
  disk_full() : std::runtime_error("no space left") {}
};
}  // namespace coring_test_errors

namespace {

/// An unhandled-exception handler that keeps what it was given, described.
class reports {
 public:
  std::function<void(std::exception_ptr)> handler() {
    return [this](std::exception_ptr e) {
      std::string text = coring::detail::describe_exception(e);
      std::lock_guard lock(mutex_);
      seen_.push_back(std::move(text));
    };
  }
  /// What was reported since the last call, sorted.
  std::vector<std::string> take() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> taken = std::exchange(seen_, {});
    std::sort(taken.begin(), taken.end());
    return taken;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

/// Counts the children that started: a child stopped before it started never throws, so every
/// test waits until all of them run before the first one ends.
struct arrivals {
  explicit arrivals(int count) : expected(count) {}
  std::atomic<int> arrived{0};
  const int expected;

  task<void> arrive_and_wait() {
    arrived.fetch_add(1);
    while (arrived.load() < expected) (void)co_await coring::sleep_for(1ms);
  }
};

/// Fails once every child started.
task<int> fail_when_all_started(arrivals& a, std::string what) {
  co_await a.arrive_and_wait();
  throw std::runtime_error(what);
}

/// Finishes with `value` once every child started.
task<int> value_when_all_started(arrivals& a, int value) {
  co_await a.arrive_and_wait();
  co_return value;
}

/// Ends the way a stopped operation does: with operation_canceled, once it is asked to stop.
task<int> canceled_when_stopped(arrivals& a) {
  a.arrived.fetch_add(1);
  (void)co_await coring::sleep_for(1h);
  throw std::system_error(std::make_error_code(std::errc::operation_canceled));
}

/// Throws a real error once it is asked to stop (a cleanup that fails, say).
task<int> fails_when_stopped(arrivals& a, std::string what) {
  a.arrived.fetch_add(1);
  (void)co_await coring::sleep_for(1h);
  throw std::runtime_error(what);
}

/// Sleeps until stopped, then returns normally.
task<void> sleeps_until_stopped(arrivals& a) {
  a.arrived.fetch_add(1);
  (void)co_await coring::sleep_for(1h);
}

const char* pool_name(int i) {
  return i == 0 ? "io pool" : "CPU pool";
}

/// Runs `body` on the io pool, then on the CPU pool.
template <class Body>
void on_both_pools(runtime& rt, Body body) {
  for (int i = 0; i < 2; ++i) {
    CAPTURE(pool_name(i));
    const executor ex = i == 0 ? rt.io() : rt.cpu();
    rt.block_on([](executor where, Body& b) -> task<void> {
      co_await coring::on(where);
      co_await b();
    }(ex, body));
  }
}

/// What the process writes to stderr while `fn` runs.
template <class Fn>
std::string capture_stderr(Fn fn) {
  std::fflush(stderr);
  FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  const int saved = ::dup(2);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(file), 2) >= 0);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text;
  std::rewind(file);
  char buffer[512];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  std::fclose(file);
  return text;
}

}  // namespace

using strings = std::vector<std::string>;

TEST_CASE("when_all's failures after the first reach the handler, on both pools, pack and vector") {
  runtime rt{coring_test::small_runtime()};
  reports r;
  rt.set_unhandled_exception_handler(r.handler());
  on_both_pools(rt, [&]() -> task<void> {
    arrivals a{3};
    std::string first;
    try {
      (void)co_await coring::when_all(fail_when_all_started(a, "a"), fail_when_all_started(a, "b"),
                                      canceled_when_stopped(a));
    } catch (const std::runtime_error& e) {
      first = e.what();
    }
    // when_all returns after every child ended, and a child reports before it counts itself done.
    // The stopped child's operation_canceled is no failure: not reported.
    REQUIRE((first == "a" || first == "b"));
    CHECK(r.take() == strings{std::string("std::runtime_error: ") + (first == "a" ? "b" : "a")});

    arrivals b{4};
    std::vector<task<int>> children;
    children.push_back(fail_when_all_started(b, "c"));
    children.push_back(canceled_when_stopped(b));
    children.push_back(fail_when_all_started(b, "d"));
    children.push_back(fails_when_stopped(b, "e"));  // a real error while stopping: reported
    std::string second;
    try {
      (void)co_await coring::when_all(std::move(children));
    } catch (const std::runtime_error& e) {
      second = e.what();
    }
    REQUIRE((second == "c" || second == "d"));
    CHECK(r.take() == strings{std::string("std::runtime_error: ") + (second == "c" ? "d" : "c"),
                              "std::runtime_error: e"});
  });
}

TEST_CASE("when_any's losers' exceptions reach the handler, but not the cancellation that stopped them") {
  runtime rt{coring_test::small_runtime()};
  reports r;
  rt.set_unhandled_exception_handler(r.handler());
  on_both_pools(rt, [&]() -> task<void> {
    arrivals a{4};
    auto [index, value] = co_await coring::when_any(canceled_when_stopped(a), value_when_all_started(a, 7),
                                                    fails_when_stopped(a, "loser"), sleeps_until_stopped(a));
    CHECK(index == 1);
    CHECK(std::get<1>(value) == 7);
    CHECK(r.take() == strings{"std::runtime_error: loser"});

    arrivals b{3};
    std::vector<task<int>> children;
    children.push_back(fails_when_stopped(b, "vector loser"));
    children.push_back(canceled_when_stopped(b));
    children.push_back(value_when_all_started(b, 9));
    auto [at, nine] = co_await coring::when_any(std::move(children));
    CHECK(at == 2);
    CHECK(nine == 9);
    CHECK(r.take() == strings{"std::runtime_error: vector loser"});

    // The winner's exception is the awaiting task's; a loser's is still reported.
    arrivals c{2};
    std::string won;
    try {
      (void)co_await coring::when_any(fail_when_all_started(c, "winner"), fails_when_stopped(c, "other"));
    } catch (const std::runtime_error& e) {
      won = e.what();
    }
    CHECK(won == "winner");
    CHECK(r.take() == strings{"std::runtime_error: other"});
  });
}

TEST_CASE("a task group's failures after the first reach the handler when join() takes them") {
  runtime rt{coring_test::small_runtime()};
  reports r;
  rt.set_unhandled_exception_handler(r.handler());
  on_both_pools(rt, [&]() -> task<void> {
    arrivals a{4};
    coring::task_group group;
    group.spawn(rt.io(), fail_when_all_started(a, "x"));
    group.spawn(rt.cpu(), fail_when_all_started(a, "y"));
    group.spawn(rt.cpu(), canceled_when_stopped(a));
    group.spawn(rt.io(), fails_when_stopped(a, "z"));
    std::string first;
    try {
      co_await group.join();
    } catch (const std::runtime_error& e) {
      first = e.what();
    }
    REQUIRE((first == "x" || first == "y"));
    CHECK(r.take() ==
          strings{std::string("std::runtime_error: ") + (first == "x" ? "y" : "x"), "std::runtime_error: z"});
  });
}

TEST_CASE("the default handler prints the demangled type and what() to stderr") {
  const std::string text = capture_stderr([] {
    coring::event_loop loop;
    auto throws_disk_full = []() -> task<void> {
      throw coring_test_errors::disk_full();
      co_return;
    };
    auto throws_int = []() -> task<void> {
      throw 42;
      co_return;
    };
    loop.spawn(throws_disk_full()).detach();
    loop.spawn(throws_int()).detach();
    loop.run();  // returns once both ended, after their exceptions were reported
  });
  CAPTURE(text);
  CHECK(text.find("coring: unhandled exception: coring_test_errors::disk_full: no space left\n") !=
        std::string::npos);
  CHECK(text.find("coring: unhandled exception: int: unknown exception\n") != std::string::npos);
  CHECK(coring::detail::describe_exception(std::make_exception_ptr(std::logic_error("bad"))) ==
        "std::logic_error: bad");
}

TEST_CASE("the default handler also prints a runtime's second when_all failure") {
  std::string first;
  const std::string text = capture_stderr([&] {
    runtime rt{coring_test::small_runtime()};
    arrivals a{2};
    auto body = [&]() -> task<void> {
      try {
        (void)co_await coring::when_all(fail_when_all_started(a, "one"), fail_when_all_started(a, "two"));
      } catch (const std::runtime_error& e) {
        first = e.what();
      }
    };
    rt.block_on(body());
  });
  CAPTURE(text);
  REQUIRE((first == "one" || first == "two"));
  CHECK(text.find(std::string("coring: unhandled exception: std::runtime_error: ") +
                  (first == "one" ? "two" : "one")) != std::string::npos);
}

TEST_CASE("an event loop has its own unhandled-exception handler, for tasks and combinators on it") {
  coring::event_loop loop;
  reports r;
  loop.set_unhandled_exception_handler(r.handler());
  auto detached = []() -> task<void> {
    (void)co_await coring::sleep_for(1ms);
    throw std::runtime_error("detached on the loop");
  };
  loop.spawn(detached()).detach();
  std::string first;
  arrivals a{2};
  arrivals b{2};
  auto forks = [&]() -> task<void> {
    try {
      (void)co_await coring::when_all(fail_when_all_started(a, "p"), fail_when_all_started(a, "q"));
    } catch (const std::runtime_error& e) {
      first = e.what();
    }
    (void)co_await coring::when_any(value_when_all_started(b, 1), fails_when_stopped(b, "loop loser"));
  };
  auto h = loop.spawn(forks());
  loop.run();
  REQUIRE((first == "p" || first == "q"));
  CHECK(r.take() == strings{"std::runtime_error: detached on the loop", "std::runtime_error: loop loser",
                            std::string("std::runtime_error: ") + (first == "p" ? "q" : "p")});
  // The default again.
  loop.set_unhandled_exception_handler(nullptr);
  const std::string text = capture_stderr([&] {
    loop.spawn(detached()).detach();
    loop.run();
  });
  CHECK(text.find("std::runtime_error: detached on the loop") != std::string::npos);
  CHECK(r.take().empty());
}
