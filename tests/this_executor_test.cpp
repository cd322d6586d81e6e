// SPDX-License-Identifier: MIT
// Tests for co_await coring::this_executor() (include/coring/this_executor.hpp): it names the io
// loop or the CPU pool the task runs on, spawning on it starts the task there (from any thread),
// on() to it comes back there, and awaiting it outside any runtime throws.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coroutine>
#include <exception>
#include <stdexcept>
#include <thread>

#include "support.hpp"

namespace {

using coring::executor;
using coring::runtime;
using coring::task;
using coring_test::this_id;

struct placed {
  std::thread::id spawner;
  std::thread::id child;
  bool child_saw_itself = false;  // this_executor() in the child names the same executor
};

task<std::thread::id> where_am_i(executor expected, bool* saw_itself) {
  const executor here = co_await coring::this_executor();
  *saw_itself = here == expected;
  co_return this_id();
}

task<placed> spawn_where_i_run() {
  const executor here = co_await coring::this_executor();
  CHECK(here.running_in_this_thread());
  placed p;
  p.spawner = this_id();
  p.child = co_await coring::spawn(here, where_am_i(here, &p.child_saw_itself));
  co_return p;
}

/// A bare coroutine that runs on the thread that calls it and belongs to no runtime.
struct bare_coroutine {
  struct promise_type {
    bare_coroutine get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

bare_coroutine ask_outside_any_runtime(bool* threw_logic_error) {
  try {
    (void)co_await coring::this_executor();
  } catch (const std::logic_error&) {
    *threw_logic_error = true;
  }
}

}  // namespace

TEST_CASE("this_executor() on an io loop names that loop: a task spawned on it runs on the same thread") {
  runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  for (int i = 0; i < 4; ++i) {  // block_on's task lands on either loop, round-robin
    const placed p = rt.block_on(spawn_where_i_run());
    CHECK(p.child == p.spawner);
    CHECK(p.child_saw_itself);
  }
}

TEST_CASE("this_executor() on a CPU worker names the CPU pool") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  auto body = [&]() -> task<bool> {
    co_await coring::on(rt.cpu());
    const executor here = co_await coring::this_executor();
    CHECK(here.running_in_this_thread());
    const placed p = co_await spawn_where_i_run();  // a child task awaited here runs here too
    CHECK(p.child_saw_itself);
    co_return here == rt.cpu();
  };
  CHECK(rt.block_on(body()));
}

TEST_CASE("a loop named by this_executor() runs tasks spawned on it from other threads on that loop") {
  runtime rt{{.io_threads = 3, .cpu_threads = 1}};
  auto name_loop = []() -> task<executor> { co_return co_await coring::this_executor(); };
  const executor loop = rt.block_on(name_loop());
  auto loop_thread = [&]() -> task<std::thread::id> {
    CHECK(loop.running_in_this_thread());
    co_return this_id();
  };
  const std::thread::id first = rt.block_on(coring::spawn(loop, loop_thread()));
  for (int i = 0; i < 6; ++i) {  // from the main thread: rt.io() would go round-robin
    CHECK(rt.block_on(coring::spawn(loop, loop_thread())) == first);
  }
  auto from_cpu = [&]() -> task<std::thread::id> {
    co_await coring::on(rt.cpu());
    co_return co_await coring::spawn(loop, loop_thread());
  };
  CHECK(rt.block_on(from_cpu()) == first);
}

TEST_CASE("on(this_executor()) brings a task back to the io loop it came from") {
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  auto body = [&]() -> task<bool> {
    const executor home = co_await coring::this_executor();
    const std::thread::id home_thread = this_id();
    co_await coring::on(rt.cpu());
    CHECK(rt.cpu().running_in_this_thread());
    co_await coring::on(home);
    const bool back = this_id() == home_thread;
    (void)co_await coring::sleep_for(std::chrono::milliseconds(1));
    co_return back&& this_id() == home_thread;
  };
  for (int i = 0; i < 4; ++i) CHECK(rt.block_on(body()));
}

TEST_CASE("this_executor() in a standalone event_loop and in sync_wait names that loop") {
  coring::event_loop loop;
  bool same = false;
  auto check = [&]() -> task<void> { same = (co_await coring::this_executor()) == loop.get_executor(); };
  auto h = loop.spawn(check());
  loop.run();
  CHECK(h.done());
  CHECK(same);

  auto in_sync_wait = []() -> task<bool> {
    const executor here = co_await coring::this_executor();
    co_return here.running_in_this_thread();
  };
  CHECK(coring::sync_wait(in_sync_wait()));
}

TEST_CASE("this_executor() awaited outside any runtime or loop throws logic_error") {
  bool threw = false;
  ask_outside_any_runtime(&threw);
  CHECK(threw);
}
