// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::event_loop;
using coring::task;

TEST_CASE("an event loop runs spawned tasks on the thread that calls run()") {
  event_loop loop;
  const auto me = std::this_thread::get_id();
  auto body = [&]() -> task<int> {
    CHECK(std::this_thread::get_id() == me);
    CHECK(loop.get_executor().running_in_this_thread());
    (void)co_await coring::sleep_for(1ms);
    CHECK(std::this_thread::get_id() == me);
    co_return 5;
  };
  auto h = loop.spawn(body());
  loop.run();
  CHECK(h.done());
  CHECK(loop.alive_tasks() == 0);
}

TEST_CASE("run() returns when no spawned task is left") {
  event_loop loop;
  int finished = 0;
  auto body = [&](int ms) -> task<void> {
    (void)co_await coring::sleep_for(std::chrono::milliseconds(ms));
    ++finished;
  };
  for (int i = 1; i <= 3; ++i) loop.spawn(body(i)).detach();
  loop.run();
  CHECK(finished == 3);
  loop.run();  // nothing left: returns at once
}

TEST_CASE("the loop names the backend it drives") {
  event_loop loop;
  const std::string name = loop.backend_name();
  CHECK(name.find(coring::to_string(loop.backend())) == 0);  // "io_uring (...)" or "epoll"
}

TEST_CASE("poll() never blocks and runs what is ready") {
  event_loop loop;
  int steps = 0;
  auto body = [&]() -> task<void> {
    ++steps;
    co_await coring::yield();
    ++steps;
  };
  loop.spawn(body()).detach();
  const auto start = std::chrono::steady_clock::now();
  while (steps < 2) loop.poll();
  CHECK(steps == 2);
  loop.poll();  // nothing to do: still returns
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("an embedding loop can drive coring with poll() between its own work") {
  event_loop loop;
  bool slept = false;
  auto body = [&]() -> task<void> {
    (void)co_await coring::sleep_for(2ms);
    slept = true;
  };
  auto h = loop.spawn(body());
  int host_iterations = 0;
  while (!h.done()) {
    ++host_iterations;  // the host program's own work
    loop.poll();
  }
  CHECK(slept);
  CHECK(host_iterations > 0);
}

TEST_CASE("run_once() blocks until a timer fires") {
  event_loop loop;
  bool fired = false;
  auto body = [&]() -> task<void> {
    (void)co_await coring::sleep_for(5ms);
    fired = true;
  };
  loop.spawn(body()).detach();
  while (!fired) loop.run_once();
  CHECK(fired);
}

TEST_CASE("stop() from another thread makes run() return") {
  event_loop loop;
  auto forever = []() -> task<void> { (void)co_await coring::sleep_for(1h); };
  loop.spawn(forever()).detach();
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    loop.stop();
  });
  loop.run();
  stopper.join();
  CHECK(loop.alive_tasks() == 1);
}

TEST_CASE("work spawned from another thread wakes a sleeping loop") {
  event_loop loop;
  std::atomic<int> ran{0};
  auto keep_alive = [&]() -> task<void> {
    while (ran.load() < 50) (void)co_await coring::sleep_for(1h);
  };
  auto nudge = [&]() -> task<void> {
    ran.fetch_add(1);
    co_return;
  };
  auto anchor = loop.spawn(keep_alive());
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) {
      loop.spawn(nudge()).detach();
      std::this_thread::sleep_for(1ms);
    }
    // stop() ends run() at its next turn, before what is still queued: stop only once all ran
    // (or after a deadline, so a lost wake-up fails the check below instead of hanging).
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (ran.load() < 50 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    loop.stop();
  });
  loop.run();  // only the remote spawns (and their wake-ups) can make progress here
  other.join();
  CHECK(ran.load() == 50);
}

TEST_CASE("driving a loop from a second thread is refused") {
  event_loop loop;
  loop.poll();  // this thread owns the ring now
  bool refused = false;
  std::thread other([&] {
    try {
      loop.poll();
    } catch (const std::logic_error&) {
      refused = true;
    }
  });
  other.join();
  CHECK(refused);
}

TEST_CASE("destroying a loop destroys the tasks still suspended on it") {
  coring_test::counted::alive = 0;
  auto sleeper = [](coring_test::counted) -> task<void> { (void)co_await coring::sleep_for(1h); };
  coring::join_handle<void> kept;
  {
    event_loop loop;
    kept = loop.spawn(sleeper(coring_test::counted{}));
    loop.spawn(sleeper(coring_test::counted{})).detach();
    for (int i = 0; i < 5; ++i) loop.poll();
    CHECK(coring_test::counted::alive == 2);
  }
  CHECK(coring_test::counted::alive == 0);
  CHECK(kept.done());
}

TEST_CASE("tasks on a loop awaited from a plain thread's sync code report not_supported for I/O") {
  // A task resumed by hand outside any runtime or loop has nowhere to run its I/O.
  auto body = []() -> task<std::error_code> { co_return (co_await coring::sleep_for(1ms)).error(); };
  auto t = body();
  auto h = t.release();
  h.resume();
  REQUIRE(h.done());
  CHECK(h.promise().take() == std::errc::not_supported);
  h.destroy();
}

TEST_CASE("run() returns when its last task finishes on another runtime's pool") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  event_loop loop;
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());  // ends there: the loop has to be told
    (void)co_await coring::sleep_for(2ms);
  };
  loop.spawn(body()).detach();
  loop.run();  // would sleep forever if the end of the task on the CPU pool did not wake it
  CHECK(loop.alive_tasks() == 0);
}
