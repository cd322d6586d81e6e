// SPDX-License-Identifier: MIT
// Misuse and races that must give a clear error: work after shutdown, handles outliving their
// runtime, empty tasks, paths and offsets the kernel would read differently, options that cannot
// work, and fork().
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/net/resolve.hpp>
#include <coring/spawn_blocking.hpp>
#include <coring/sync_wait.hpp>
#include <cstdint>
#include <future>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using coring::runtime;
using coring::task;
using coring_test::counted;

namespace coring::detail {
std::string ring_setup_error(int error, unsigned entries);  // uring_backend.cpp
}

namespace {

/// Runs `fn` on a thread of its own and says whether it returned within `limit`: a call that would
/// hang forever fails the check instead of the whole run (the stuck thread is left behind).
template <class Fn>
bool returns_within(std::chrono::milliseconds limit, Fn fn) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([done, fn = std::move(fn)]() mutable {
    fn();
    done->set_value();
  }).detach();
  return finished.wait_for(limit) == std::future_status::ready;
}

task<int> forty_two() {
  co_return 42;
}

}  // namespace

TEST_CASE("block_on after shutdown throws operation_canceled at once") {
  runtime rt{coring_test::small_runtime()};
  rt.shutdown();
  std::error_code seen;
  const bool returned = returns_within(5s, [&] {
    try {
      (void)rt.block_on(forty_two());
    } catch (const std::system_error& e) {
      seen = e.code();
    }
  });
  REQUIRE(returned);
  CHECK(seen == std::errc::operation_canceled);
}

TEST_CASE("a task that moves to a shut-down runtime with on() gets operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  rt.shutdown();
  auto hop = [&]() -> task<int> {
    co_await coring::on(rt.cpu());
    co_return 1;
  };
  std::error_code seen;
  const bool returned = returns_within(5s, [&] {
    try {
      (void)coring::sync_wait(hop());
    } catch (const std::system_error& e) {
      seen = e.code();
    }
  });
  REQUIRE(returned);
  CHECK(seen == std::errc::operation_canceled);
}

TEST_CASE("a task spawned after shutdown completes at once as canceled and frees its frame") {
  counted::alive = 0;
  runtime rt{coring_test::small_runtime()};
  rt.shutdown();
  auto body = [](counted) -> task<int> { co_return 1; };
  auto h = coring::spawn(rt.io(), body(counted{}));
  coring::spawn_detached(rt.cpu(), body(counted{}));
  CHECK(h.done());
  CHECK(counted::alive == 0);
  std::error_code seen;
  const bool returned = returns_within(5s, [&] {
    try {
      (void)coring::sync_wait(h);
    } catch (const std::system_error& e) {
      seen = e.code();
    }
  });
  REQUIRE(returned);
  CHECK(seen == std::errc::operation_canceled);
  CHECK(rt.metrics().tasks_alive == 0);
}

TEST_CASE("a join_handle dropped after its runtime, of a task that threw, reports without the runtime") {
  // The runtime's handler is gone with it: the exception is printed instead (ASan would report a
  // use of the destroyed registry).
  bool handler_called = false;
  coring::join_handle<int> kept;
  {
    runtime rt{coring_test::small_runtime()};
    rt.set_unhandled_exception_handler([&](std::exception_ptr) { handler_called = true; });
    auto failing = []() -> task<int> {
      throw std::runtime_error("never awaited (this message is expected in the test output)");
      co_return 0;
    };
    kept = coring::spawn(rt.cpu(), failing());
    coring_test::block_until([&] { return kept.done(); });
  }
  kept = {};
  CHECK_FALSE(handler_called);
}

TEST_CASE("a join_handle dropped while its runtime lives still reports to that runtime's handler") {
  std::atomic<int> reported{0};
  runtime rt{coring_test::small_runtime()};
  rt.set_unhandled_exception_handler([&](std::exception_ptr) { reported.fetch_add(1); });
  auto failing = []() -> task<int> {
    throw std::runtime_error("dropped");
    co_return 0;
  };
  {
    auto h = coring::spawn(rt.cpu(), failing());
    coring_test::block_until([&] { return h.done(); });
  }
  CHECK(reported.load() == 1);
}

TEST_CASE("a frame destroyed by shutdown whose local throws in its destructor reports to the handler") {
  struct throws_when_destroyed {
    ~throws_when_destroyed() noexcept(false) { throw std::runtime_error("from a destructor"); }
  };
  std::atomic<int> reported{0};
  std::atomic<bool> asleep{false};
  {
    runtime rt{coring_test::small_runtime()};
    rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::runtime_error& error) {
        if (std::string(error.what()) == "from a destructor") reported.fetch_add(1);
      }
    });
    auto sleeper = [&]() -> task<void> {
      throws_when_destroyed local;
      asleep = true;
      (void)co_await coring::sleep_for(1h);
    };
    coring::spawn_detached(rt.io(), sleeper());
    coring_test::block_until([&] { return asleep.load(); });
    rt.shutdown();
    CHECK(reported.load() == 1);
  }
}

TEST_CASE("co_await of an empty or moved-from task throws logic_error") {
  auto await_it = [](task<int>& t) -> task<bool> {
    try {
      (void)co_await t;
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  task<int> empty;
  CHECK(coring::sync_wait(await_it(empty)));
  task<int> full = forty_two();
  task<int> taken = std::move(full);
  CHECK(coring::sync_wait(await_it(full)));
  CHECK(coring::sync_wait(std::move(taken)) == 42);
}

TEST_CASE("a path with an interior NUL is invalid_argument everywhere, not a shorter path") {
  coring_test::temp_dir dir;
  const std::string existing = dir.path("file");
  const std::string sub = dir.path("sub");
  REQUIRE(::close(::open(existing.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) == 0);
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  const std::string with_nul = existing + "\0.bak"s;
  const std::string dir_with_nul = sub + "\0x"s;
  const std::string fresh_with_nul = dir.path("new") + "\0x"s;
  auto body = [&]() -> task<void> {
    CHECK((co_await coring::file::open(with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::status(with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::remove(with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::remove_directory(dir_with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::make_directory(fresh_with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::rename(with_nul, dir.path("moved"))).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::rename(existing, dir.path("moved") + "\0x"s)).error() ==
          std::errc::invalid_argument);
    CHECK((co_await coring::fs::read_file(with_nul)).error() == std::errc::invalid_argument);
    CHECK((co_await coring::fs::write_file(with_nul, "x")).error() == std::errc::invalid_argument);
    CHECK((co_await coring::net::unix_stream::connect(dir.path("sock") + "\0x"s)).error() ==
          std::errc::invalid_argument);
  };
  coring::sync_wait(body());
  CHECK(coring::net::unix_listener::bind(dir.path("sock") + "\0x"s).error() == std::errc::invalid_argument);
  // Nothing was touched under the shorter names.
  CHECK(::access(existing.c_str(), F_OK) == 0);
  CHECK(::access(sub.c_str(), F_OK) == 0);
  CHECK(::access(dir.path("new").c_str(), F_OK) != 0);
  CHECK(::access(dir.path("sock").c_str(), F_OK) != 0);
}

TEST_CASE("read_at and write_at above INT64_MAX are invalid_argument, not the current position") {
  coring_test::temp_dir dir;
  auto body = [&]() -> task<void> {
    auto f = co_await coring::file::open(dir.path("data"), O_RDWR | O_CREAT, 0644);
    REQUIRE(f);
    REQUIRE(co_await f->write_all(std::as_bytes(std::span<const char>("hello", 5)), 0));
    char buffer[8];
    for (const std::uint64_t offset :
         {std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 63, std::uint64_t{1} << 63 | 5}) {
      CAPTURE(offset);
      CHECK((co_await f->read_at(buffer, offset)).error() == std::errc::invalid_argument);
      CHECK((co_await f->write_at(std::string_view("x"), offset)).error() == std::errc::invalid_argument);
    }
    // Still readable where it should be.
    auto n = co_await f->read_at(buffer, 0);
    REQUIRE(n);
    CHECK(*n == 5);
  };
  coring::sync_wait(body());
}

TEST_CASE("runtime options that cannot work are rejected at construction, saying why") {
  auto rejects = [](coring::runtime_options options, const char* word) {
    CAPTURE(word);
    try {
      runtime rt{options};
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(word) != std::string::npos);
    }
  };
  rejects({.io_threads = 1, .cpu_threads = 1, .ring_entries = 0}, "ring_entries");
  rejects({.io_threads = 1, .cpu_threads = 1, .ring_entries = 32769}, "ring_entries");
  rejects({.io_threads = 1, .cpu_threads = 1, .ring_entries = 1u << 20}, "maximum");
  rejects({.io_threads = 1, .cpu_threads = 1, .receive_buffers = 0}, "receive_buffers");
  rejects({.io_threads = 1, .cpu_threads = 1, .receive_buffers = 3}, "power of two");
  rejects({.io_threads = 1, .cpu_threads = 1, .receive_buffers = 65536}, "receive_buffers");
  rejects({.io_threads = 1, .cpu_threads = 1, .receive_buffer_size = 0}, "receive_buffer_size");
  // The limits themselves are fine.
  runtime largest{{.io_threads = 1, .cpu_threads = 1, .ring_entries = 4096, .receive_buffers = 32768}};
  CHECK(largest.block_on(forty_two()) == 42);
}

TEST_CASE("a ring refused for want of locked memory names RLIMIT_MEMLOCK and its value") {
  const std::string message = coring::detail::ring_setup_error(ENOMEM, 256);
  CHECK(message.find("RLIMIT_MEMLOCK") != std::string::npos);
  CHECK(message.find("locked memory") != std::string::npos);
  CHECK(message.find("256") != std::string::npos);
  CHECK(coring::detail::ring_setup_error(EFAULT, 8).find("RLIMIT_MEMLOCK") == std::string::npos);
}

#if defined(__SANITIZE_THREAD__)
#define CORING_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORING_TEST_TSAN 1
#endif
#endif

#ifndef CORING_TEST_TSAN  // TSan does not follow a multithreaded process into its fork() child
TEST_CASE("after fork the child can spawn_blocking and resolve on a new runtime, and not use the parent's") {
  runtime parent{coring_test::small_runtime()};
  // Leave the blocking pool with idle threads: the state a child inherits without them.
  auto warm = []() -> task<int> { co_return co_await coring::spawn_blocking([] { return 1; }); };
  REQUIRE(parent.block_on(warm()) == 1);

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 0;
    try {
      (void)parent.block_on(forty_two());
      code |= 1;  // the parent's runtime must refuse
    } catch (const std::logic_error&) {
    }
    try {
      coring::spawn_detached(parent.cpu(), forty_two());
      code |= 2;
    } catch (const std::logic_error&) {
    }
    try {
      runtime rt{coring_test::small_runtime()};
      auto blocking = []() -> task<int> { co_return co_await coring::spawn_blocking([] { return 7; }); };
      if (rt.block_on(blocking()) != 7) code |= 4;
      auto resolve = []() -> task<bool> {
        auto r = co_await coring::net::resolve("localhost", "80");
        co_return r.has_value() && !r->empty();
      };
      if (!rt.block_on(resolve())) code |= 8;
    } catch (...) {
      code |= 16;
    }
    ::_exit(code);  // no static destructors: the parent's objects are not the child's
  }
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 1000 && waited == 0; ++i) {
    waited = ::waitpid(child, &status, WNOHANG);
    if (waited == 0) std::this_thread::sleep_for(10ms);
  }
  if (waited == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL("the child hung");
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The parent is unaffected.
  CHECK(parent.block_on(warm()) == 1);
}
#endif
