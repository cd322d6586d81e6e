// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <pthread.h>

#include <coring/task.hpp>
#include <stdexcept>
#include <string>

#include "support.hpp"

using coring::task;

namespace {

// Drives a task from a plain thread: tasks that never suspend complete inside resume().
template <class T>
T run_sync(task<T> t) {
  T value{};
  auto outer = [](task<T> inner, T& out) -> task<void> { out = co_await inner; }(std::move(t), value);
  auto h = outer.release();
  h.resume();
  REQUIRE(h.done());
  h.promise().take();
  h.destroy();
  return value;
}

void run_sync_void(task<void> t) {
  auto h = t.release();
  h.resume();
  REQUIRE(h.done());
  struct destroy_on_exit {
    decltype(h) handle;
    ~destroy_on_exit() { handle.destroy(); }
  } guard{h};
  h.promise().take();
}

task<int> answer() {
  co_return 42;
}
task<int> add_one(int x) {
  co_return x + 1;
}
task<void> throws() {
  throw std::runtime_error("boom");
  co_return;
}

int started = 0;
task<void> mark_started() {
  ++started;
  co_return;
}

}  // namespace

TEST_CASE("a task does not start until it is awaited") {
  started = 0;
  task<void> t = mark_started();
  CHECK(started == 0);
  CHECK_FALSE(t.done());
  run_sync_void(std::move(t));
  CHECK(started == 1);
}

TEST_CASE("awaiting a task gives its value") {
  CHECK(run_sync(answer()) == 42);
  auto chained = []() -> task<int> { co_return co_await add_one(co_await answer()); };
  CHECK(run_sync(chained()) == 43);
}

TEST_CASE("a task of a reference refers to the original object") {
  std::string text = "hello";
  auto ref = [](std::string& s) -> task<std::string&> { co_return s; };
  auto check = [&]() -> task<void> {
    std::string& r = co_await ref(text);
    r += " world";
  };
  run_sync_void(check());
  CHECK(text == "hello world");
}

TEST_CASE("an exception thrown by a task is rethrown by co_await") {
  auto catcher = []() -> task<std::string> {
    try {
      co_await throws();
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what());
    }
    co_return std::string("no exception");
  };
  CHECK(run_sync(catcher()) == "boom");
  CHECK_THROWS_AS(run_sync_void(throws()), std::runtime_error);
}

TEST_CASE("destroying an unstarted task destroys its frame and arguments") {
  coring_test::counted::alive = 0;
  {
    auto t = [](coring_test::counted) -> task<void> { co_return; }(coring_test::counted{});
    CHECK(coring_test::counted::alive == 1);
  }
  CHECK(coring_test::counted::alive == 0);
}

TEST_CASE("a moved-from task is empty") {
  task<int> a = answer();
  task<int> b = std::move(a);
  CHECK_FALSE(a.valid());
  CHECK(b.valid());
}

namespace {

task<long> count_down(long n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await count_down(n - 1);
}

task<long> sequential(long n) {
  long sum = 0;
  for (long i = 0; i < n; ++i) sum += co_await add_one(0);
  co_return sum;
}

struct stack_run {
  long depth;
  long result = -1;
};

void* run_chains(void* arg) {
  auto* run = static_cast<stack_run*>(arg);
  run->result = run_sync(sequential(run->depth)) + run_sync(count_down(run->depth));
  return nullptr;
}

}  // namespace

#if defined(__GNUC__) && !defined(__clang__) && \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
// g++ 12 emits symmetric transfer as a sibling call, which its ASan+UBSan and TSan instrumentation
// prevents: there the chains only check the values, on a shorter chain and a normal stack.
constexpr long chain_length = 10'000;
constexpr std::size_t chain_stack = 64 * 1024 * 1024;
#else
constexpr long chain_length = 1'000'000;
constexpr std::size_t chain_stack = 256 * 1024;
#endif

TEST_CASE("a chain of 1,000,000 synchronously completing tasks runs in constant stack") {
  // On a thread with a 256 KiB stack: without symmetric transfer either chain would need
  // hundreds of bytes of stack per task and overflow long before the end.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, chain_stack);
  stack_run run{chain_length};
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &attr, &run_chains, &run) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(run.result == 2 * chain_length);
}
