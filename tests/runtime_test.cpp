// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;

TEST_CASE("block_on runs the task on the io pool and returns its value") {
  runtime rt{coring_test::small_runtime()};
  const auto caller = std::this_thread::get_id();
  auto body = [&]() -> task<std::string> {
    CHECK(rt.io().running_in_this_thread());
    CHECK(std::this_thread::get_id() != caller);
    co_return "done";
  };
  CHECK(rt.block_on(body()) == "done");
}

TEST_CASE("block_on rethrows the task's exception") {
  runtime rt{coring_test::small_runtime()};
  auto body = []() -> task<int> {
    throw std::runtime_error("from the task");
    co_return 0;
  };
  CHECK_THROWS_WITH_AS(rt.block_on(body()), "from the task", std::runtime_error);
}

TEST_CASE("block_on from one of the runtime's own threads is refused") {
  runtime rt{coring_test::small_runtime()};
  auto inner = []() -> task<void> { co_return; };
  auto body = [&]() -> task<bool> {
    try {
      rt.block_on(inner());
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("on() moves the task between the pools and really changes threads") {
  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<void> {
    const auto io_thread = std::this_thread::get_id();
    co_await coring::on(rt.cpu());
    CHECK(rt.cpu().running_in_this_thread());
    CHECK_FALSE(rt.io().running_in_this_thread());
    CHECK(std::this_thread::get_id() != io_thread);
    co_await coring::on(rt.io());
    CHECK(rt.io().running_in_this_thread());
    CHECK(std::this_thread::get_id() == io_thread);  // one io thread
  };
  rt.block_on(body());
}

TEST_CASE("a task resumes on the CPU pool after a sleep started there") {
  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    for (int i = 0; i < 5; ++i) {
      auto r = co_await coring::sleep_for(1ms);
      CHECK(r);
      CHECK(rt.cpu().running_in_this_thread());
    }
  };
  rt.block_on(body());
}

TEST_CASE("a task resumes on the io pool after a sleep started there") {
  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<void> {
    const auto before = std::this_thread::get_id();
    auto r = co_await coring::sleep_for(1ms);
    CHECK(r);
    CHECK(std::this_thread::get_id() == before);
  };
  rt.block_on(body());
}

TEST_CASE("sleep_for waits at least the given time") {
  runtime rt{coring_test::small_runtime()};
  auto body = []() -> task<std::chrono::steady_clock::duration> {
    const auto start = std::chrono::steady_clock::now();
    (void)co_await coring::sleep_for(20ms);
    co_return std::chrono::steady_clock::now() - start;
  };
  CHECK(rt.block_on(body()) >= 20ms);
}

TEST_CASE("sleep_until a past deadline completes at once") {
  runtime rt{coring_test::small_runtime()};
  auto body = []() -> task<bool> {
    auto r = co_await coring::sleep_until(std::chrono::steady_clock::now() - 1h);
    co_return static_cast<bool>(r);
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("timers fire in deadline order") {
  runtime rt{coring_test::small_runtime()};
  std::mutex m;
  std::vector<int> order;
  auto sleeper = [&](int ms) -> task<void> {
    (void)co_await coring::sleep_for(std::chrono::milliseconds(ms));
    std::lock_guard lock(m);
    order.push_back(ms);
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int ms : {30, 10, 20, 5, 25}) hs.push_back(coring::spawn(rt.io(), sleeper(ms)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(order == std::vector<int>{5, 10, 20, 25, 30});
}

TEST_CASE("spawn returns a handle that gives the task's value") {
  runtime rt{coring_test::small_runtime()};
  auto square = [](int x) -> task<int> { co_return x* x; };
  auto body = [&]() -> task<int> {
    auto a = coring::spawn(rt.cpu(), square(3));
    auto b = coring::spawn(rt.io(), square(4));
    co_return co_await a + co_await b;
  };
  CHECK(rt.block_on(body()) == 25);
}

TEST_CASE("a spawned task runs on the pool it was spawned on") {
  runtime rt{coring_test::small_runtime()};
  auto where = [&]() -> task<bool> { co_return rt.cpu().running_in_this_thread(); };
  auto body = [&]() -> task<bool> { co_return co_await coring::spawn(rt.cpu(), where()); };
  CHECK(rt.block_on(body()));
}

TEST_CASE("the joiner resumes on its own pool after the child finishes on another") {
  runtime rt{coring_test::small_runtime()};
  auto child = [&]() -> task<int> {
    (void)co_await coring::sleep_for(1ms);
    co_return 7;
  };
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    const int v = co_await coring::spawn(rt.io(), child());
    CHECK(v == 7);
    CHECK(rt.cpu().running_in_this_thread());
    co_await coring::on(rt.io());
    const int w = co_await coring::spawn(rt.cpu(), child());
    CHECK(w == 7);
    CHECK(rt.io().running_in_this_thread());
  };
  rt.block_on(body());
}

TEST_CASE("an exception crosses from the CPU pool to the awaiting io task") {
  runtime rt{coring_test::small_runtime()};
  auto failing = [&]() -> task<int> {
    CHECK(rt.cpu().running_in_this_thread());
    throw std::out_of_range("cpu side");
    co_return 0;
  };
  auto body = [&]() -> task<std::string> {
    try {
      (void)co_await coring::spawn(rt.cpu(), failing());
    } catch (const std::out_of_range& e) {
      CHECK(rt.io().running_in_this_thread());
      co_return e.what();
    }
    co_return "nothing thrown";
  };
  CHECK(rt.block_on(body()) == "cpu side");
}

TEST_CASE("an exception in a task that moved pools propagates through co_await") {
  runtime rt{coring_test::small_runtime()};
  auto inner = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    throw std::runtime_error("after the hop");
  };
  auto body = [&]() -> task<bool> {
    try {
      co_await inner();
    } catch (const std::runtime_error&) {
      co_return rt.cpu().running_in_this_thread();  // still where inner moved it
    }
    co_return false;
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("dropping a join_handle detaches the task, which still runs to the end") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<int> done{0};
  auto work = [&]() -> task<void> {
    (void)co_await coring::sleep_for(2ms);
    done.fetch_add(1);
  };
  for (int i = 0; i < 10; ++i) coring::spawn(rt.cpu(), work()).detach();
  { auto dropped = coring::spawn(rt.io(), work()); }
  auto wait = [&]() -> task<void> {
    while (done.load() < 11) (void)co_await coring::sleep_for(1ms);
  };
  rt.block_on(wait());
  CHECK(done.load() == 11);
}

TEST_CASE("spawn_detached runs every task to its end on the executor's pool") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<int> on_cpu{0};
  std::atomic<int> on_io{0};
  auto work = [&](coring::executor ex, std::atomic<int>& count) -> task<void> {
    CHECK(ex.running_in_this_thread());
    (void)co_await coring::sleep_for(1ms);
    CHECK(ex.running_in_this_thread());  // resumed on its own pool after the timer
    count.fetch_add(1);
  };
  for (int i = 0; i < 100; ++i) coring::spawn_detached(rt.cpu(), work(rt.cpu(), on_cpu));
  for (int i = 0; i < 100; ++i) coring::spawn_detached(rt.io(), work(rt.io(), on_io));
  coring_test::block_until([&] { return on_cpu.load() == 100 && on_io.load() == 100; });
  coring_test::block_until([&] { return rt.metrics().tasks_alive == 0; });
  CHECK(rt.metrics().tasks_completed == rt.metrics().tasks_spawned);
}

TEST_CASE("an exception escaping a spawn_detached task reaches the runtime's handler") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<int> reported{0};
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& ex) {
      if (std::string(ex.what()) == "lost?") reported.fetch_add(1);
    }
  });
  auto failing = []() -> task<void> {
    throw std::runtime_error("lost?");
    co_return;
  };
  auto failing_after_wait = []() -> task<void> {
    (void)co_await coring::sleep_for(1ms);
    throw std::runtime_error("lost?");
  };
  coring::spawn_detached(rt.cpu(), failing());
  coring::spawn_detached(rt.io(), failing());
  coring::spawn_detached(rt.cpu(), failing_after_wait());
  coring_test::block_until([&] { return reported.load() == 3; });
  CHECK(reported.load() == 3);
}

TEST_CASE("spawn_detached of an empty task is a clear error") {
  runtime rt{coring_test::small_runtime()};
  CHECK_THROWS_AS(coring::spawn_detached(rt.cpu(), task<void>{}), std::invalid_argument);
}

TEST_CASE("an exception escaping a detached task reaches the runtime's handler") {
  runtime rt{coring_test::small_runtime()};
  std::mutex m;
  std::vector<std::string> seen;
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::lock_guard lock(m);
      seen.emplace_back(ex.what());
    }
  });
  auto failing = [](const char* what) -> task<void> {
    throw std::runtime_error(what);
    co_return;
  };
  coring::spawn(rt.cpu(), failing("detached")).detach();
  {
    auto never_awaited = coring::spawn(rt.io(), failing("dropped"));
    auto wait = [&]() -> task<void> {
      while (!never_awaited.done()) (void)co_await coring::sleep_for(1ms);
    };
    rt.block_on(wait());
  }
  auto settle = [&]() -> task<void> {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(m);
        if (seen.size() == 2) co_return;
      }
      (void)co_await coring::sleep_for(1ms);
    }
  };
  rt.block_on(settle());
  std::lock_guard lock(m);
  REQUIRE(seen.size() == 2);
  std::sort(seen.begin(), seen.end());
  CHECK(seen[0] == "detached");
  CHECK(seen[1] == "dropped");
}

TEST_CASE("an awaited exception is not reported to the handler") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<int> reported{0};
  rt.set_unhandled_exception_handler([&](std::exception_ptr) { reported.fetch_add(1); });
  auto failing = []() -> task<void> {
    throw std::runtime_error("observed");
    co_return;
  };
  auto body = [&]() -> task<void> {
    auto h = coring::spawn(rt.cpu(), failing());
    (void)co_await coring::sleep_for(5ms);  // let it finish first: the fast path of co_await
    CHECK_THROWS_AS(co_await h, std::runtime_error);
  };
  rt.block_on(body());
  CHECK(reported.load() == 0);
}

TEST_CASE("cancel before the task starts: it never runs and joining reports operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<bool> ran{false};
  auto work = [&]() -> task<int> {
    ran = true;
    co_return 1;
  };
  auto body = [&]() -> task<std::error_code> {
    // The io loop is busy running this task, so the child cannot start before cancel().
    auto h = coring::spawn(rt.io(), work());
    h.cancel();
    try {
      (void)co_await h;
    } catch (const std::system_error& e) {
      co_return e.code();
    }
    co_return std::error_code{};
  };
  CHECK(rt.block_on(body()) == std::errc::operation_canceled);
  CHECK_FALSE(ran.load());
}

TEST_CASE("cancel wakes a sleeping task with operation_canceled, on its own pool") {
  runtime rt{coring_test::small_runtime()};
  auto sleeper = [&]() -> task<std::error_code> {
    auto r = co_await coring::sleep_for(1h);
    CHECK(rt.cpu().running_in_this_thread());
    co_return r.error();
  };
  auto body = [&]() -> task<std::error_code> {
    auto h = coring::spawn(rt.cpu(), sleeper());
    (void)co_await coring::sleep_for(5ms);
    h.cancel();
    co_return co_await h;
  };
  CHECK(rt.block_on(body()) == std::errc::operation_canceled);
}

TEST_CASE("cancel reaches a sleep inside a task awaited by the spawned task") {
  runtime rt{coring_test::small_runtime()};
  auto inner = []() -> task<std::error_code> { co_return (co_await coring::sleep_for(1h)).error(); };
  auto outer = [&]() -> task<std::error_code> { co_return co_await inner(); };
  auto body = [&]() -> task<std::error_code> {
    auto h = coring::spawn(rt.io(), outer());
    (void)co_await coring::sleep_for(2ms);
    h.cancel();
    co_return co_await h;
  };
  CHECK(rt.block_on(body()) == std::errc::operation_canceled);
}

TEST_CASE("cancel racing with timer expiry completes exactly once either way") {
  runtime rt{coring_test::small_runtime()};
  auto sleeper = []() -> task<int> {
    auto r = co_await coring::sleep_for(std::chrono::microseconds(200));
    co_return r ? 1 : 2;
  };
  auto body = [&]() -> task<int> {
    int total = 0;
    for (int i = 0; i < 200; ++i) {
      auto h = coring::spawn(i % 2 ? rt.cpu() : rt.io(), sleeper());
      if (i % 3 == 0) (void)co_await coring::sleep_for(std::chrono::microseconds(200));
      h.cancel();
      try {
        total += co_await h > 0 ? 1 : 0;  // expired or canceled while sleeping
      } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_canceled);  // canceled before it started
        ++total;
      }
    }
    co_return total;
  };
  CHECK(rt.block_on(body()) == 200);
}

TEST_CASE("a sleep awaited after cancel() completes at once with operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  auto sleeper = [&]() -> task<std::error_code> {
    started = true;
    while (!go.load()) co_await coring::yield();
    co_return (co_await coring::sleep_for(1h)).error();
  };
  auto body = [&]() -> task<std::error_code> {
    auto h = coring::spawn(rt.cpu(), sleeper());
    while (!started.load()) co_await coring::yield();
    h.cancel();
    go = true;
    co_return co_await h;
  };
  CHECK(rt.block_on(body()) == std::errc::operation_canceled);
}

TEST_CASE("yield lets other tasks on the same loop run") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::vector<int> trace;
  auto worker = [&](int id) -> task<void> {
    for (int i = 0; i < 3; ++i) {
      trace.push_back(id);
      co_await coring::yield();
    }
  };
  auto body = [&]() -> task<void> {
    auto a = coring::spawn(rt.io(), worker(1));
    auto b = coring::spawn(rt.io(), worker(2));
    co_await a;
    co_await b;
  };
  rt.block_on(body());
  CHECK(trace == std::vector<int>{1, 2, 1, 2, 1, 2});
}

TEST_CASE("yield on the CPU pool keeps the task on the CPU pool") {
  runtime rt{coring_test::small_runtime()};
  auto body = [&]() -> task<bool> {
    co_await coring::on(rt.cpu());
    for (int i = 0; i < 100; ++i) co_await coring::yield();
    co_return rt.cpu().running_in_this_thread();
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("spawning an empty task is a clear error") {
  runtime rt{coring_test::small_runtime()};
  task<void> empty;
  CHECK_THROWS_AS(coring::spawn(rt.cpu(), std::move(empty)), std::invalid_argument);
}

TEST_CASE("metrics count spawned and completed tasks and ring traffic") {
  runtime rt{coring_test::small_runtime()};
  const auto before = rt.metrics();
  CHECK(before.io_threads == 1);
  CHECK(before.cpu_threads == 2);
  auto nop = []() -> task<void> { co_return; };
  auto body = [&]() -> task<void> {
    for (int i = 0; i < 100; ++i) co_await coring::spawn(rt.cpu(), nop());
    co_await coring::on(rt.cpu());
    auto f = co_await coring::file::open("/dev/zero");
    REQUIRE(f);
    char buffer[16];
    CHECK(co_await f->read_at(buffer, 0));
  };
  rt.block_on(body());
  const auto after = rt.metrics();
  CHECK(after.tasks_spawned - before.tasks_spawned == 101);  // + block_on's task
  CHECK(after.tasks_completed >= before.tasks_completed + 100);
  CHECK(after.tasks_alive <= 1);
  CHECK(after.ring_submissions >= before.ring_submissions + 2);  // open + read
  CHECK(after.ring_completions >= before.ring_completions + 2);
}

TEST_CASE("runtime options: cpu_threads = one_per_core means one per hardware thread") {
  runtime rt{{.io_threads = 2, .cpu_threads = coring::one_per_core}};
  const auto m = rt.metrics();
  CHECK(m.io_threads == 2);
  CHECK(m.cpu_threads == std::max(1u, std::thread::hardware_concurrency()));
}

TEST_CASE("tasks spread over several io loops each stay on their loop") {
  runtime rt{{.io_threads = 3, .cpu_threads = 1}};
  auto pinned = [&]() -> task<bool> {
    const auto me = std::this_thread::get_id();
    bool same = true;
    for (int i = 0; i < 5; ++i) {
      (void)co_await coring::sleep_for(std::chrono::microseconds(100));
      same = same && std::this_thread::get_id() == me;
    }
    co_return same&& rt.io().running_in_this_thread();
  };
  auto body = [&]() -> task<int> {
    std::vector<coring::join_handle<bool>> hs;
    for (int i = 0; i < 12; ++i) hs.push_back(coring::spawn(rt.io(), pinned()));
    int ok = 0;
    for (auto& h : hs) ok += co_await h ? 1 : 0;
    co_return ok;
  };
  CHECK(rt.block_on(body()) == 12);
}
