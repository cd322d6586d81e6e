// SPDX-License-Identifier: MIT
// spawn_blocking: move-only jobs, cancellation before the job starts, the per-runtime pool's size
// option, and shutdown joining the pool.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/spawn_blocking.hpp>
#include <coring/timeout.hpp>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::join_handle;
using coring::runtime;
using coring::task;
using coring_test::block_until;

namespace {

template <class T>
task<T> join(join_handle<T> h) {
  co_return co_await h;
}

coring::runtime_options with_blocking_threads(unsigned n) {
  auto o = coring_test::small_runtime();
  o.blocking_threads = n;
  return o;
}

/// Occupies one blocking thread until `release` is set.
task<void> occupy(std::atomic<bool>& running, std::atomic<bool>& release) {
  co_await coring::spawn_blocking([&] {
    running.store(true);
    for (int i = 0; i < 20000 && !release.load(); ++i) std::this_thread::sleep_for(1ms);
  });
}

}  // namespace

TEST_CASE("spawn_blocking runs a move-only callable once and returns its move-only result") {
  runtime rt{coring_test::small_runtime()};
  for (auto ex : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<int> {
      auto owned = std::make_unique<int>(20);
      auto job = [p = std::move(owned)]() mutable { return std::make_unique<int>(*p + 1); };
      std::unique_ptr<int> r = co_await coring::spawn_blocking(std::move(job));
      CHECK(ex.running_in_this_thread());  // resumed on its own pool
      co_return *r;
    };
    CHECK(rt.block_on(join(coring::spawn(ex, body()))) == 21);
  }
}

TEST_CASE("a spawn_blocking canceled before its job started never runs the job") {
  runtime rt{with_blocking_threads(1)};
  for (auto ex : {rt.io(), rt.cpu()}) {
    std::atomic<bool> running{false};
    std::atomic<bool> release{false};
    auto blocker = coring::spawn(rt.cpu(), occupy(running, release));
    block_until([&] { return running.load(); });
    std::atomic<int> ran{0};
    auto waiter = [&]() -> task<std::error_code> {
      try {
        co_await coring::spawn_blocking([&] { ran.fetch_add(1); });
      } catch (const std::system_error& e) {
        co_return e.code();
      }
      co_return std::error_code{};
    };
    auto h = coring::spawn(ex, waiter());
    std::this_thread::sleep_for(20ms);  // queued behind the blocker
    h.cancel();
    CHECK(rt.block_on(join(std::move(h))) == std::errc::operation_canceled);
    release.store(true);
    rt.block_on(join(std::move(blocker)));
    // The canceled job was still in the queue when the thread came free: it did not run.
    auto probe = []() -> task<int> { co_return co_await coring::spawn_blocking([] { return 1; }); };
    CHECK(rt.block_on(probe()) == 1);
    CHECK(ran.load() == 0);
  }
}

TEST_CASE("a spawn_blocking whose job started runs it to its end despite a stop request") {
  runtime rt{coring_test::small_runtime()};
  for (auto ex : {rt.io(), rt.cpu()}) {
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    auto waiter = [&]() -> task<int> {
      co_return co_await coring::spawn_blocking([&] {
        started.store(true);
        for (int i = 0; i < 5000 && !release.load(); ++i) std::this_thread::sleep_for(1ms);
        return 9;
      });
    };
    auto h = coring::spawn(ex, waiter());
    block_until([&] { return started.load(); });
    h.cancel();
    std::this_thread::sleep_for(10ms);
    CHECK_FALSE(h.done());  // not abandoned: it waits for the job
    release.store(true);
    CHECK(rt.block_on(join(std::move(h))) == 9);
  }
}

TEST_CASE("timeout of a queued spawn_blocking ends it after the duration and the job never runs") {
  runtime rt{with_blocking_threads(1)};
  std::atomic<bool> running{false};
  std::atomic<bool> release{false};
  auto blocker = coring::spawn(rt.cpu(), occupy(running, release));
  block_until([&] { return running.load(); });
  std::atomic<int> ran{0};
  auto body = [&]() -> task<void> {
    auto r = co_await coring::timeout(30ms, coring::spawn_blocking([&] {
                                        ran.fetch_add(1);
                                        return 1;
                                      }));
    CHECK(r.error() == std::errc::timed_out);
  };
  rt.block_on(body());
  release.store(true);
  rt.block_on(join(std::move(blocker)));
  auto probe = []() -> task<int> { co_return co_await coring::spawn_blocking([] { return 2; }); };
  CHECK(rt.block_on(probe()) == 2);
  CHECK(ran.load() == 0);
}

TEST_CASE("runtime_options::blocking_threads bounds how many blocking jobs run at once") {
  runtime rt{with_blocking_threads(2)};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto job = [&] {
    const int now = inside.fetch_add(1) + 1;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(5ms);
    inside.fetch_sub(1);
  };
  auto one = [&]() -> task<void> { co_await coring::spawn_blocking(job); };
  auto body = [&]() -> task<void> {
    std::vector<join_handle<void>> hs;
    for (int i = 0; i < 12; ++i) hs.push_back(coring::spawn(i % 2 ? rt.cpu() : rt.io(), one()));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(most.load() <= 2);
  CHECK(most.load() >= 1);
}

TEST_CASE("runtime_options::blocking_threads must be 1 to 65536") {
  CHECK_THROWS_AS(runtime(with_blocking_threads(0)), std::invalid_argument);
  CHECK_THROWS_AS(runtime(with_blocking_threads(65537)), std::invalid_argument);
  CHECK_NOTHROW(runtime(with_blocking_threads(65536)));
}

TEST_CASE("shutdown waits for running blocking jobs and drops queued ones, which never run") {
  std::atomic<bool> running{false};
  std::atomic<bool> release{false};
  std::atomic<bool> first_done{false};
  std::atomic<int> queued_ran{0};
  std::atomic<int> queued_canceled{0};
  std::thread releaser;
  {
    runtime rt{with_blocking_threads(1)};
    auto first = [&]() -> task<void> {
      co_await coring::spawn_blocking([&] {
        running.store(true);
        for (int i = 0; i < 5000 && !release.load(); ++i) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms);
        first_done.store(true);
      });
    };
    auto queued = [&]() -> task<void> {
      try {
        co_await coring::spawn_blocking([&] { queued_ran.fetch_add(1); });
      } catch (const std::system_error& e) {
        if (e.code() == std::errc::operation_canceled) queued_canceled.fetch_add(1);
      }
    };
    coring::spawn(rt.cpu(), first()).detach();
    block_until([&] { return running.load(); });
    for (int i = 0; i < 3; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), queued()).detach();
    std::this_thread::sleep_for(20ms);  // all three queued behind the first
    releaser = std::thread([&] {
      std::this_thread::sleep_for(30ms);
      release.store(true);
    });
    rt.shutdown();
    CHECK(first_done.load());  // shutdown waited for the running job
  }
  releaser.join();
  CHECK(queued_ran.load() == 0);
  CHECK(queued_canceled.load() == 3);  // woken as canceled before the pools stopped
}

TEST_CASE("spawn_blocking outside any runtime uses the process-wide pool") {
  auto body = []() -> task<int> { co_return co_await coring::spawn_blocking([] { return 5; }); };
  CHECK(coring::sync_wait(body()) == 5);
}

TEST_CASE("a blocking job may shut its own runtime down without waiting for itself") {
  std::atomic<bool> shut{false};
  {
    runtime rt{coring_test::small_runtime()};
    auto body = [&]() -> task<void> {
      co_await coring::spawn_blocking([&] {
        rt.shutdown();  // from a blocking thread: allowed, and must not deadlock
        shut.store(true);
      });
    };
    coring::spawn(rt.cpu(), body()).detach();
    block_until([&] { return shut.load(); });
  }
  CHECK(shut.load());
}

TEST_CASE("shutdown waits for a running blocking job only until shutdown_timeout") {
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::chrono::steady_clock::duration took{};
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1, .shutdown_timeout = 200ms}};
    auto waits_for_job = [](std::atomic<bool>& s, std::atomic<bool>& f) -> task<void> {
      co_await coring::spawn_blocking([&s, &f] {
        s.store(true);
        std::this_thread::sleep_for(1500ms);  // a job that outlives the shutdown deadline
        f.store(true);
      });
    };
    coring::spawn_detached(rt.cpu(), waits_for_job(started, finished));
    block_until([&] { return started.load(); });
    const auto begin = std::chrono::steady_clock::now();
    rt.shutdown();
    took = std::chrono::steady_clock::now() - begin;
    CHECK_FALSE(finished.load());  // shutdown returned while the job still ran
  }
  CHECK(took >= 150ms);
  CHECK(took < 1400ms);
  block_until([&] { return finished.load(); });  // it ends on its own thread, resuming nothing
  std::this_thread::sleep_for(10ms);
}
