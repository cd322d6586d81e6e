// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/spawn_blocking.hpp>
#include <coring/sync_wait.hpp>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using coring::task;

TEST_CASE("sync_wait runs a task on the calling thread and returns its value") {
  const auto me = std::this_thread::get_id();
  auto body = [&]() -> task<int> {
    CHECK(std::this_thread::get_id() == me);
    (void)co_await coring::sleep_for(1ms);  // timers work without a runtime
    CHECK(std::this_thread::get_id() == me);
    co_return 42;
  };
  CHECK(coring::sync_wait(body()) == 42);
}

TEST_CASE("sync_wait accepts any awaitable and rethrows exceptions") {
  CHECK(coring::sync_wait(coring::sleep_for(1ms)));
  auto failing = []() -> task<void> {
    throw std::runtime_error("from sync_wait");
    co_return;
  };
  CHECK_THROWS_WITH_AS(coring::sync_wait(failing()), "from sync_wait", std::runtime_error);
}

TEST_CASE("sync_wait can visit a runtime's pool and come back") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<bool> {
    const auto me = std::this_thread::get_id();
    co_await coring::on(rt.cpu());
    const bool moved = rt.cpu().running_in_this_thread() && std::this_thread::get_id() != me;
    co_return moved;
  };
  CHECK(coring::sync_wait(body()));
}

TEST_CASE("spawn_blocking runs the function off the pools and resumes on the awaiting pool") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<void> {
    const auto io_thread = std::this_thread::get_id();
    std::thread::id ran_on;
    const std::string value = co_await coring::spawn_blocking([&] {
      ran_on = std::this_thread::get_id();
      std::this_thread::sleep_for(5ms);  // a blocking call
      return std::string("blocking result");
    });
    CHECK(value == "blocking result");
    CHECK(ran_on != io_thread);
    CHECK(std::this_thread::get_id() == io_thread);
    co_await coring::on(rt.cpu());
    co_await coring::spawn_blocking([] { std::this_thread::sleep_for(1ms); });
    CHECK(rt.cpu().running_in_this_thread());
  };
  rt.block_on(body());
}

TEST_CASE("spawn_blocking rethrows the function's exception in the awaiting task") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<std::string> {
    try {
      co_await coring::spawn_blocking([]() -> int { throw std::invalid_argument("bad input"); });
    } catch (const std::invalid_argument& e) {
      co_return e.what();
    }
    co_return "nothing thrown";
  };
  CHECK(rt.block_on(body()) == "bad input");
}

TEST_CASE("many blocking jobs at once each get a thread and all complete") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  auto one = [&](int i) -> task<int> {
    co_return co_await coring::spawn_blocking([&, i] {
      const int now = running.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20ms);  // a blocking call: overlaps only on separate threads
      running.fetch_sub(1);
      return i;
    });
  };
  auto body = [&]() -> task<int> {
    std::vector<coring::join_handle<int>> hs;
    for (int i = 0; i < 32; ++i) hs.push_back(coring::spawn(i % 2 ? rt.cpu() : rt.io(), one(i)));
    int sum = 0;
    for (auto& h : hs) sum += co_await h;
    co_return sum;
  };
  CHECK(rt.block_on(body()) == 31 * 32 / 2);
  CHECK(most.load() > 1);  // the pool grew beyond one thread
}

TEST_CASE("shutdown waits for a blocking job that runs: none runs after shutdown returns") {
  std::atomic<bool> job_finished{false};
  std::atomic<bool> finished_before_shutdown_returned{false};
  {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    std::atomic<bool> started{false};
    auto body = [&]() -> task<void> {
      co_await coring::spawn_blocking([&] {
        started = true;
        std::this_thread::sleep_for(50ms);
        job_finished = true;
      });
    };
    coring::spawn(rt.cpu(), body()).detach();
    while (!started.load()) std::this_thread::sleep_for(1ms);
    rt.shutdown();  // joins the blocking pool: the job ends first
    finished_before_shutdown_returned = job_finished.load();
  }
  CHECK(finished_before_shutdown_returned.load());
}
