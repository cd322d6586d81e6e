// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/async_mutex.hpp>
#include <coring/coring.hpp>
#include <system_error>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace {

struct pipe_pair {
  int read_end = -1;
  int write_end = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~pipe_pair() {
    ::close(read_end);
    ::close(write_end);
  }
};

}  // namespace

TEST_CASE("shutdown destroys tasks sleeping on both pools and frees their frames") {
  counted::alive = 0;
  std::atomic<int> asleep{0};
  coring::join_handle<void> kept;
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 2}};
    auto sleeper = [&](counted) -> task<void> {
      asleep.fetch_add(1);
      (void)co_await coring::sleep_for(1h);
    };
    for (int i = 0; i < 50; ++i) coring::spawn(rt.io(), sleeper(counted{})).detach();
    for (int i = 0; i < 50; ++i) coring::spawn(rt.cpu(), sleeper(counted{})).detach();
    kept = coring::spawn(rt.cpu(), sleeper(counted{}));
    coring_test::block_until([&] { return asleep.load() == 101; });
    CHECK(counted::alive == 101);
    rt.shutdown();
    CHECK(counted::alive == 0);
    CHECK(kept.done());
    CHECK(rt.metrics().tasks_alive == 0);
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("shutdown cancels reads in flight before it frees the buffers they write into") {
  // The buffers live in the frames of tasks blocked on pipe reads that never complete; under
  // AddressSanitizer a kernel write after the frame was freed would be reported.
  counted::alive = 0;
  pipe_pair pipes[4];
  std::atomic<int> reading{0};
  {
    runtime rt{{.io_threads = 2, .cpu_threads = 2}};
    auto reader = [&](int fd, counted) -> task<void> {
      char buffer[512];
      coring::file f{::dup(fd)};
      reading.fetch_add(1);
      auto r = co_await f.read_at(buffer, 0);
      (void)r;
      FAIL("the read must never complete");
    };
    for (int i = 0; i < 4; ++i) {
      coring::spawn(i % 2 ? rt.cpu() : rt.io(), reader(pipes[i].read_end, counted{})).detach();
    }
    coring_test::block_until([&] { return reading.load() == 4; });
    std::this_thread::sleep_for(10ms);  // let the reads reach the kernel
    rt.shutdown();
    CHECK(counted::alive == 0);
  }
  // The pipes are still open: had the kernel kept a read, this write would land in freed memory.
  for (auto& p : pipes) CHECK(::write(p.write_end, "late", 4) == 4);
}

TEST_CASE("shutdown returns by its deadline when the kernel keeps canceled reads, and leaks their frames") {
  // The kernel is made to ignore every cancel request: without a deadline shutdown would wait for
  // these reads forever. With it, shutdown gives up after shutdown_timeout, and the buffers the
  // reads still write into must stay valid (ASan reports a write into freed memory; LeakSanitizer
  // a leak nobody kept).
  pipe_pair pipes[2];
  std::atomic<int> reading{0};
  std::chrono::steady_clock::duration took{};
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1, .shutdown_timeout = 300ms}};
    auto reader = [&](int fd) -> task<void> {
      char buffer[512];
      coring::file f{::dup(fd)};
      reading.fetch_add(1);
      (void)co_await f.read_at(buffer, 0);
    };
    coring::spawn_detached(rt.io(), reader(pipes[0].read_end));
    coring::spawn_detached(rt.cpu(), reader(pipes[1].read_end));
    coring_test::block_until([&] { return reading.load() == 2; });
    std::this_thread::sleep_for(10ms);  // let the reads reach the kernel

    coring::detail::testing::withhold_cancels(true);
    const auto begin = std::chrono::steady_clock::now();
    rt.shutdown();
    took = std::chrono::steady_clock::now() - begin;
    coring::detail::testing::withhold_cancels(false);
    CHECK(rt.metrics().tasks_alive == 2);  // leaked, not destroyed under the kernel
  }
  CHECK(took >= 250ms);  // it did wait for the kernel, up to the deadline
  CHECK(took < 20s);     // and then stopped waiting
  // The reads are still in the kernel: these writes complete them into the kept frames.
  for (auto& p : pipes) CHECK(::write(p.write_end, "late", 4) == 4);
  std::this_thread::sleep_for(10ms);
}

TEST_CASE("a thread blocked in block_on learns that the runtime shut down") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> started{false};
  auto forever = [&]() -> task<int> {
    started = true;
    (void)co_await coring::sleep_for(1h);
    co_return 1;
  };
  std::error_code seen;
  std::thread waiter([&] {
    try {
      (void)rt.block_on(forever());
    } catch (const std::system_error& e) {
      seen = e.code();
    }
  });
  coring_test::block_until([&] { return started.load(); });
  rt.shutdown();
  waiter.join();
  CHECK(seen == std::errc::operation_canceled);
}

TEST_CASE("joining a task destroyed by shutdown reports operation_canceled") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> started{false};
  auto forever = [&]() -> task<int> {
    started = true;
    (void)co_await coring::sleep_for(1h);
    co_return 1;
  };
  auto h = coring::spawn(rt.io(), forever());
  coring_test::block_until([&] { return started.load(); });
  rt.shutdown();
  REQUIRE(h.done());
  // Awaiting needs a coroutine; drive it by hand (the runtime is gone).
  auto join = [](coring::join_handle<int>& handle) -> task<std::error_code> {
    try {
      (void)co_await handle;
    } catch (const std::system_error& e) {
      co_return e.code();
    }
    co_return std::error_code{};
  };
  auto t = join(h);
  auto frame = t.release();
  frame.resume();
  REQUIRE(frame.done());
  CHECK(frame.promise().take() == std::errc::operation_canceled);
  frame.destroy();
}

TEST_CASE("shutdown with tasks queued but never started frees them") {
  counted::alive = 0;
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    auto blocker = [&]() -> task<void> {
      std::this_thread::sleep_for(50ms);  // occupies the only CPU worker
      co_return;
    };
    auto idle = [](counted) -> task<void> { co_return; };
    coring::spawn(rt.cpu(), blocker()).detach();
    for (int i = 0; i < 1000; ++i) coring::spawn(rt.cpu(), idle(counted{})).detach();
    rt.shutdown();
    CHECK(counted::alive == 0);
  }
}

TEST_CASE("shutdown frees spawn_detached tasks, sleeping or never started") {
  counted::alive = 0;
  std::atomic<int> asleep{0};
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    auto sleeper = [&](counted) -> task<void> {
      asleep.fetch_add(1);
      (void)co_await coring::sleep_for(1h);
    };
    for (int i = 0; i < 20; ++i) coring::spawn_detached(rt.io(), sleeper(counted{}));
    for (int i = 0; i < 20; ++i) coring::spawn_detached(rt.cpu(), sleeper(counted{}));
    coring_test::block_until([&] { return asleep.load() == 40; });
    auto blocker = [&]() -> task<void> {
      std::this_thread::sleep_for(50ms);  // occupies the only CPU worker
      co_return;
    };
    auto idle = [](counted) -> task<void> { co_return; };
    coring::spawn_detached(rt.cpu(), blocker());
    for (int i = 0; i < 1000; ++i) coring::spawn_detached(rt.cpu(), idle(counted{}));
    CHECK(counted::alive > 40);
    rt.shutdown();
    CHECK(counted::alive == 0);
    CHECK(rt.metrics().tasks_alive == 0);
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("a task chain suspended deep inside awaited tasks is destroyed from its root") {
  counted::alive = 0;
  std::atomic<bool> deep{false};
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    auto leaf = [&](counted) -> task<void> {
      deep = true;
      (void)co_await coring::sleep_for(1h);
    };
    auto middle = [&](counted) -> task<void> { co_await leaf(counted{}); };
    auto root = [&](counted) -> task<void> {
      co_await coring::on(rt.cpu());
      co_await middle(counted{});
    };
    coring::spawn(rt.io(), root(counted{})).detach();
    coring_test::block_until([&] { return deep.load(); });
    CHECK(counted::alive >= 3);  // frame copies (and temporaries alive across the co_await)
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("shutdown is idempotent and the destructor after it does nothing more") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  rt.shutdown();
  rt.shutdown();
  CHECK(rt.metrics().tasks_alive == 0);
}

TEST_CASE("a destructor that wakes another task during shutdown does not resume or leak it") {
  // Destroying the holder's frame unlocks the mutex, which hands it to a waiter: that wake-up
  // reaches a stopped pool while shutdown is destroying tasks.
  counted::alive = 0;
  coring::async_mutex mutex;  // outlives the runtime
  std::atomic<int> parked{0};
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 2}};
    auto holder = [&](counted) -> task<void> {
      auto guard = co_await mutex.scoped_lock();
      parked.fetch_add(1);
      (void)co_await coring::sleep_for(1h);
    };
    auto waiter = [&](counted) -> task<void> {
      parked.fetch_add(1);
      auto guard = co_await mutex.scoped_lock();
      FAIL("no waiter may get the lock before shutdown");
    };
    coring::spawn(rt.io(), holder(counted{})).detach();
    coring_test::block_until([&] { return parked.load() == 1; });
    for (int i = 0; i < 4; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), waiter(counted{})).detach();
    coring_test::block_until([&] { return parked.load() == 5; });
    std::this_thread::sleep_for(10ms);  // let the waiters park on the mutex
    rt.shutdown();
    CHECK(counted::alive == 0);
  }
}
