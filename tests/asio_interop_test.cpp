// SPDX-License-Identifier: MIT
// Asio inside coring tasks (coring::use_task) and coring tasks inside Asio code (coring::async_run).
#include <doctest/doctest.h>

// g++ 12 at -O1 (the sanitizer builds) reports a false "may be used uninitialized" inside Asio's
// use_future promise handler, inlined into this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#include <atomic>
#include <chrono>
#include <coring/asio/async_run.hpp>
#include <coring/asio/use_task.hpp>
#include <coring/coring.hpp>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using tcp = asio::ip::tcp;

namespace {

/// An io_context run by one thread of its own, as in an application that already uses Asio.
struct asio_thread {
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(context);
  std::thread thread{[this] { context.run(); }};

  asio_thread() = default;
  asio_thread(const asio_thread&) = delete;
  asio_thread& operator=(const asio_thread&) = delete;
  ~asio_thread() {
    guard.reset();
    context.stop();
    thread.join();
  }
  bool runs_here() const { return std::this_thread::get_id() == thread.get_id(); }
};

/// A connected pair of Asio TCP sockets on the loopback.
struct socket_pair {
  tcp::socket client;
  tcp::socket server;
  explicit socket_pair(asio::io_context& context) : client(context), server(context) {
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

template <class T>
T join(runtime& rt, coring::join_handle<T> handle) {
  return rt.block_on(
      [](coring::join_handle<T> h) -> task<T> { co_return co_await std::move(h); }(std::move(handle)));
}

coring::executor pool(runtime& rt, bool cpu) {
  return cpu ? rt.cpu() : rt.io();
}

task<int> forty_two() {
  co_return 42;
}

task<int> throws_runtime_error() {
  throw std::runtime_error("from the coring task");
  co_return 0;
}

// A user's own composed operation: two timer waits, then the number of waits.
template <class Token>
auto two_waits(asio::steady_timer& timer, Token&& token) {
  return asio::async_compose<Token, void(std::error_code, int)>(
      [&timer, waits = 0](auto& self, std::error_code error = {}) mutable {
        if (error) return self.complete(error, waits);
        if (waits == 2) return self.complete({}, waits);
        ++waits;
        timer.expires_after(1ms);
        timer.async_wait(std::move(self));
      },
      token, timer);
}

}  // namespace

TEST_CASE("an Asio timer awaited with use_task resumes the task on the pool it awaited from") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  for (bool cpu : {false, true}) {
    CAPTURE(cpu);
    auto waiter = [](asio_thread& a, coring::executor home) -> task<bool> {
      asio::steady_timer timer(a.context, 2ms);
      auto waited = co_await timer.async_wait(coring::use_task);
      CHECK(waited.has_value());
      CHECK_FALSE(a.runs_here());
      co_return home.running_in_this_thread();
    };
    CHECK(join(rt, coring::spawn(pool(rt, cpu), waiter(asio, pool(rt, cpu)))));
  }
}

TEST_CASE("an Asio error comes back as the result's error code, values with it through as_tuple") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  socket_pair sockets(asio.context);
  asio::write(sockets.server, asio::buffer("abcd", 4));
  sockets.server.shutdown(tcp::socket::shutdown_send);

  rt.block_on([](socket_pair& s) -> task<void> {
    char buffer[10];
    auto tupled = co_await asio::async_read(s.client, asio::buffer(buffer),
                                            asio::experimental::as_tuple(coring::use_task));
    CHECK(std::get<0>(tupled) == asio::error::eof);
    CHECK(std::get<1>(tupled) == 4);  // the bytes read before EOF are not lost
    CHECK(std::string(buffer, 4) == "abcd");
  }(sockets));
  // The same read without as_tuple: the error alone. (A second read after EOF would wait for an
  // edge Asio's epoll reactor never gets again: a fresh pair.)
  socket_pair more(asio.context);
  asio::write(more.server, asio::buffer("ab", 2));
  more.server.shutdown(tcp::socket::shutdown_send);
  rt.block_on([](socket_pair& s) -> task<void> {
    char buffer[10];
    auto read = co_await asio::async_read(s.client, asio::buffer(buffer), coring::use_task);
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error() == asio::error::eof);
  }(more));

  // A refused connection: the error Asio reports, unchanged.
  tcp::endpoint closed;
  {
    tcp::acceptor probe(asio.context, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    closed = probe.local_endpoint();
  }
  auto connect = [](asio_thread& a, tcp::endpoint to) -> task<std::error_code> {
    tcp::socket socket(a.context);
    auto connected = co_await socket.async_connect(to, coring::use_task);
    co_return connected.error();
  };
  CHECK(join(rt, coring::spawn(rt.cpu(), connect(asio, closed))) == std::errc::connection_refused);
}

TEST_CASE("Asio's resolver and a user's async_compose operation are awaitable with use_task") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  auto body = [](asio_thread& a) -> task<void> {
    tcp::resolver resolver(a.context);
    auto found = co_await resolver.async_resolve("127.0.0.1", "80", coring::use_task);
    REQUIRE(found.has_value());
    REQUIRE_FALSE(found->empty());
    CHECK(found->begin()->endpoint().port() == 80);

    asio::steady_timer timer(a.context);
    auto waits = co_await two_waits(timer, coring::use_task);
    REQUIRE(waits.has_value());
    CHECK(*waits == 2);
  };
  join(rt, coring::spawn(rt.io(), body(asio)));
  join(rt, coring::spawn(rt.cpu(), body(asio)));
}

TEST_CASE("exception_ptr signatures rethrow, plain signatures give the values") {
  // The test holds the exception until every thread is joined: Asio's thread may drop its copy
  // after the task read it, through a reference count ThreadSanitizer cannot see.
  const std::exception_ptr from_asio = std::make_exception_ptr(std::invalid_argument("from Asio"));
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  rt.block_on([](asio_thread& a, std::exception_ptr thrown) -> task<void> {
    int value = co_await asio::co_spawn(
        a.context, []() -> asio::awaitable<int> { co_return 7; }, coring::use_task);
    CHECK(value == 7);
    bool threw = false;
    // Named first: g++ 12 destroys a capturing lambda written inside a co_await expression twice.
    auto rethrower = [thrown]() -> asio::awaitable<void> {
      std::rethrow_exception(thrown);
      co_return;
    };
    try {
      co_await asio::co_spawn(a.context, rethrower, coring::use_task);
    } catch (const std::invalid_argument& e) {
      threw = std::string(e.what()) == "from Asio";
    }
    CHECK(threw);
    co_await asio::post(a.context, coring::use_task);  // void(): no value, nothing to check but the return
    auto [text, number] = co_await asio::async_initiate<const coring::use_task_t&, void(std::string, int)>(
        [](auto handler) { std::move(handler)(std::string("pair"), 2); }, coring::use_task);
    CHECK(text == "pair");
    CHECK(number == 2);
  }(asio, from_asio));
}

TEST_CASE("canceling a task cancels the Asio operation it awaits, on both pools") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  for (bool cpu : {false, true}) {
    CAPTURE(cpu);
    std::atomic<bool> waiting{false};
    auto sleeper = [](asio_thread& a, std::atomic<bool>& flag) -> task<std::error_code> {
      asio::steady_timer timer(a.context, 1h);
      flag.store(true);
      auto waited = co_await timer.async_wait(coring::use_task);
      co_return waited.error();
    };
    auto handle = coring::spawn(pool(rt, cpu), sleeper(asio, waiting));
    coring_test::block_until([&] { return waiting.load(); });
    std::this_thread::sleep_for(5ms);  // the wait reaches the io_context
    const auto begin = std::chrono::steady_clock::now();
    handle.cancel();
    const std::error_code error = join(rt, std::move(handle));
    CHECK(error == std::errc::operation_canceled);
    CHECK(std::chrono::steady_clock::now() - begin < 20s);
  }
}

TEST_CASE("timeout() and when_any end an Asio wait and the operation with it") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  rt.block_on([](asio_thread& a) -> task<void> {
    asio::steady_timer timer(a.context, 1h);
    auto timed = co_await coring::timeout(20ms, timer.async_wait(coring::use_task));
    CHECK(timed.error() == std::errc::timed_out);

    asio::steady_timer other(a.context, 1h);
    auto first = co_await coring::when_any(other.async_wait(coring::use_task), coring::sleep_for(10ms));
    CHECK(first.index == 1);
  }(asio));
}

TEST_CASE("a stop requested before the await never starts the Asio operation") {
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  std::atomic<bool> running{false};
  std::atomic<bool> go{false};
  std::atomic<int> started{0};
  auto body = [](std::atomic<bool>& run, std::atomic<bool>& flag,
                 std::atomic<int>& starts) -> task<std::error_code> {
    run.store(true);
    while (!flag.load()) std::this_thread::yield();  // held until the stop request was made
    auto r = co_await asio::async_initiate<const coring::use_task_t&, void(std::error_code)>(
        [&starts](auto handler) {
          starts.fetch_add(1);
          std::move(handler)(std::error_code{});
        },
        coring::use_task);
    co_return r.error();
  };
  auto handle = coring::spawn(rt.cpu(), body(running, go, started));
  coring_test::block_until([&] { return running.load(); });  // started: canceled later, not before
  handle.cancel();
  go.store(true);
  CHECK(join(rt, std::move(handle)) == std::errc::operation_canceled);
  CHECK(started.load() == 0);
}

TEST_CASE("an Asio handler destroyed without being called ends the await with operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  // An initiation that drops its handler.
  auto dropped = []() -> task<std::error_code> {
    auto r = co_await asio::async_initiate<const coring::use_task_t&, void(std::error_code, int)>(
        [](auto handler) { (void)std::move(handler); }, coring::use_task);
    co_return r.error();
  };
  CHECK(rt.block_on(dropped()) == std::errc::operation_canceled);

  // An io_context destroyed with the operation still queued: a void() signature throws.
  auto context = std::make_unique<asio::io_context>();
  std::atomic<bool> posted{false};
  auto waits_for_post = [](asio::io_context& c, std::atomic<bool>& flag) -> task<bool> {
    auto op = asio::post(c, coring::use_task);
    flag.store(true);
    try {
      co_await std::move(op);
    } catch (const std::system_error& e) {
      co_return e.code() == std::errc::operation_canceled;
    }
    co_return false;
  };
  auto handle = coring::spawn(rt.cpu(), waits_for_post(*context, posted));
  coring_test::block_until([&] { return posted.load(); });
  std::this_thread::sleep_for(5ms);
  context.reset();  // nobody ever ran it: its queued handler is destroyed
  CHECK(join(rt, std::move(handle)));
}

TEST_CASE("a task destroyed at shutdown while it awaits an Asio read cancels the read first") {
  // Under AddressSanitizer a read that still wrote into the freed frame would be reported.
  asio_thread asio;
  socket_pair sockets(asio.context);
  std::atomic<bool> reading{false};
  {
    runtime rt{coring_test::small_runtime()};
    auto reader = [](socket_pair& s, std::atomic<bool>& flag) -> task<void> {
      char buffer[256];
      flag.store(true);
      auto r = co_await s.client.async_read_some(asio::buffer(buffer), coring::use_task);
      FAIL("the read must not complete into this frame: ", r.error().message());
    };
    coring::spawn_detached(rt.io(), reader(sockets, reading));
    coring_test::block_until([&] { return reading.load(); });
    std::this_thread::sleep_for(10ms);
  }
  // Data for a read that must be gone by now.
  asio::write(sockets.server, asio::buffer("late", 4));
  std::this_thread::sleep_for(20ms);
  std::error_code ignored;
  CHECK(sockets.client.available(ignored) == 4);  // nobody took it
}

TEST_CASE("async_run completes a callback, a future and a deferred operation with the task's outcome") {
  runtime rt{coring_test::small_runtime()};
  std::promise<int> got;
  coring::async_run(rt.cpu(), forty_two(), [&](std::exception_ptr error, int value) {
    CHECK_FALSE(error);
    got.set_value(value);
  });
  CHECK(got.get_future().get() == 42);

  std::future<int> value = coring::async_run(rt.io(), forty_two(), asio::use_future);
  CHECK(value.get() == 42);
  // The exception is looked at where the handler runs: with use_future, the last reference to it
  // may drop on the coring thread after the main thread read it, through a reference count
  // ThreadSanitizer cannot see (libstdc++'s exception_ptr), a false report.
  std::promise<std::string> failure;
  coring::async_run(rt.cpu(), throws_runtime_error(), [&](std::exception_ptr error, int) {
    try {
      std::rethrow_exception(error);
    } catch (const std::runtime_error& e) {
      failure.set_value(e.what());
    } catch (...) {
      failure.set_value("another exception");
    }
  });
  CHECK(failure.get_future().get() == "from the coring task");

  auto deferred = coring::async_run(rt.cpu(), forty_two(), asio::experimental::deferred);
  std::promise<int> later;
  std::move(deferred)([&](std::exception_ptr, int v) { later.set_value(v); });
  CHECK(later.get_future().get() == 42);

  std::promise<bool> done;
  coring::async_run(
      rt.cpu(), []() -> task<void> { co_return; }(),
      [&](std::exception_ptr error) { done.set_value(error == nullptr); });
  CHECK(done.get_future().get());
}

TEST_CASE("an Asio coroutine awaits a coring task and resumes on its own io_context") {
  runtime rt{coring_test::small_runtime()};
  asio::io_context context;  // run below, by this thread, with no work guard
  std::optional<int> value;
  bool resumed_here = false;
  std::string error;
  asio::co_spawn(
      context,
      [&]() -> asio::awaitable<void> {
        value = co_await coring::async_run(rt.cpu(), forty_two(), asio::use_awaitable);
        resumed_here = context.get_executor().running_in_this_thread();
        try {
          co_await coring::async_run(rt.io(), throws_runtime_error(), asio::use_awaitable);
        } catch (const std::runtime_error& e) {
          error = e.what();
        }
      },
      asio::detached);
  context.run();  // returns only after both tasks ended: async_run counts as outstanding work
  CHECK(value == 42);
  CHECK(resumed_here);
  CHECK(error == "from the coring task");
}

TEST_CASE("an Asio cancellation signal stops the coring task async_run started") {
  // The io_context outlives the runtime: the worker that completed the task may still hold its
  // work guard (released after the handler is queued) when the handler has already run.
  asio_thread asio;
  runtime rt{coring_test::small_runtime()};
  asio::cancellation_signal signal;
  // What the handler got, read where it runs (see the use_future note above): the code of the
  // system_error it was given, or a marker.
  std::promise<std::error_code> outcome;
  std::atomic<bool> sleeping{false};
  auto sleeper = [](std::atomic<bool>& flag) -> task<void> {
    flag.store(true);
    (co_await coring::sleep_for(1h)).value();  // ends canceled, and .value() throws that
  };
  asio::post(asio.context, [&] {
    // The signal is emitted on the io_context's thread, so the handler runs there too (Asio's
    // cancellation slots are not thread-safe: the completion clears the slot where it runs).
    auto done = [&](std::exception_ptr error) {
      try {
        if (error) std::rethrow_exception(error);
        outcome.set_value(std::make_error_code(std::errc::invalid_argument));  // no exception at all
      } catch (const std::system_error& e) {
        outcome.set_value(e.code());
      } catch (...) {
        outcome.set_value(std::make_error_code(std::errc::state_not_recoverable));  // another exception
      }
    };
    coring::async_run(rt.cpu(), sleeper(sleeping),
                      asio::bind_executor(asio.context, asio::bind_cancellation_slot(signal.slot(), done)));
  });
  coring_test::block_until([&] { return sleeping.load(); });
  asio::post(asio.context, [&] { signal.emit(asio::cancellation_type::terminal); });
  auto future = outcome.get_future();
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  CHECK(future.get() == std::errc::operation_canceled);
}

TEST_CASE("async_run on a runtime that shut down still calls the handler, with operation_canceled") {
  runtime rt{coring_test::small_runtime()};
  rt.shutdown();
  std::future<int> value = coring::async_run(rt.cpu(), forty_two(), asio::use_future);
  REQUIRE(value.wait_for(20s) == std::future_status::ready);
  try {
    (void)value.get();
    FAIL("a task on a shut-down runtime cannot have run");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::operation_canceled);
  }
}
