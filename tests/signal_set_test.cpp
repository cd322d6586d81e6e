// SPDX-License-Identifier: MIT
// signal_set: signals received by waiting tasks on both pools, queued while nobody waits, never
// lost to a cancellation, the creating thread's mask restored, coring threads blocking them.
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coring/net/endpoint.hpp>
#include <coring/net/tcp_listener.hpp>
#include <coring/net/tcp_stream.hpp>
#include <coring/on.hpp>
#include <coring/runtime.hpp>
#include <coring/signal_set.hpp>
#include <coring/sleep.hpp>
#include <coring/spawn.hpp>
#include <coring/spawn_blocking.hpp>
#include <coring/sync_wait.hpp>
#include <coring/task.hpp>
#include <coring/timeout.hpp>
#include <coring/when_any.hpp>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using coring::executor;
using coring::result;
using coring::runtime;
using coring::signal_set;
using coring::task;

namespace {

bool blocked_here(int signo) {
  sigset_t current;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &current);
  return ::sigismember(&current, signo) == 1;
}

void send_to_process(int signo) {
  REQUIRE(::kill(::getpid(), signo) == 0);
}

/// `rounds` times: a task on `ex` waits, the signal is sent (sometimes before it suspends,
/// sometimes after), and the task must get it on its own pool.
task<int> receive_many(signal_set& set, executor ex, int rounds) {
  int received = 0;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<bool> started{false};
    auto waiter = [&]() -> task<result<int>> {
      started = true;
      auto r = co_await set.wait();
      CHECK(ex.running_in_this_thread());
      co_return r;
    };
    auto h = coring::spawn(ex, waiter());
    while (!started.load()) co_await coring::yield();
    if (i % 2 == 1) (void)co_await coring::sleep_for(1ms);  // let it suspend in the poll
    send_to_process(SIGTERM);
    auto r = co_await coring::timeout(10s, std::move(h));
    REQUIRE(r);
    CHECK(*r == SIGTERM);
    if (r && *r == SIGTERM) ++received;
  }
  co_return received;
}

}  // namespace

TEST_CASE("SIGTERM sent to the process is received by a task waiting on the io pool, 100 times") {
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  signal_set set{SIGTERM};  // after the runtime: its threads block SIGTERM on their own
  CHECK(rt.block_on(receive_many(set, rt.io(), 100)) == 100);
}

TEST_CASE("SIGTERM sent to the process is received by a task waiting on the CPU pool, 100 times") {
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  signal_set set{SIGTERM};  // after the runtime: its threads block SIGTERM on their own
  CHECK(rt.block_on(receive_many(set, rt.cpu(), 100)) == 100);
}

TEST_CASE("a signal sent by another thread reaches a waiting task") {
  signal_set set{SIGINT};
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  std::thread sender([] {
    std::this_thread::sleep_for(20ms);
    ::kill(::getpid(), SIGINT);
  });
  auto body = [&]() -> task<result<int>> { co_return co_await coring::timeout(10s, set.wait()); };
  auto r = rt.block_on(body());
  sender.join();
  REQUIRE(r);
  CHECK(*r == SIGINT);
}

TEST_CASE("signals sent before anyone waits are queued and all returned by later waits") {
  signal_set set{SIGUSR1, SIGUSR2, SIGHUP, SIGRTMIN + 1};
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  send_to_process(SIGUSR1);
  send_to_process(SIGHUP);
  send_to_process(SIGUSR2);
  for (int i = 0; i < 3; ++i) {  // real-time signals are queued one per send
    union sigval value {};
    value.sival_int = i;
    REQUIRE(::sigqueue(::getpid(), SIGRTMIN + 1, value) == 0);
  }
  auto body = [&]() -> task<std::vector<int>> {
    std::vector<int> got;
    for (int i = 0; i < 6; ++i) {
      auto r = co_await coring::timeout(10s, set.wait());
      REQUIRE(r);
      got.push_back(*r);
      if (i == 2) co_await coring::on(rt.cpu());  // the rest from the CPU pool
    }
    // Nothing more is queued: a further wait ends by its timeout.
    auto none = co_await coring::timeout(30ms, set.wait());
    CHECK(none.error() == std::errc::timed_out);
    co_return got;
  };
  std::vector<int> got = rt.block_on(body());
  std::sort(got.begin(), got.end());
  std::vector<int> expected{SIGHUP, SIGUSR1, SIGUSR2, SIGRTMIN + 1, SIGRTMIN + 1, SIGRTMIN + 1};
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
}

TEST_CASE("a canceled signal wait ends with operation_canceled and the signal goes to the next wait") {
  signal_set set{SIGUSR1};
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      std::atomic<bool> started{false};
      auto waiter = [&]() -> task<result<int>> {
        started = true;
        co_return co_await set.wait();
      };
      auto h = coring::spawn(ex, waiter());
      while (!started.load()) co_await coring::yield();
      (void)co_await coring::sleep_for(5ms);
      h.cancel();
      auto r = co_await h;
      CHECK(r.error() == std::errc::operation_canceled);
      send_to_process(SIGUSR1);
      auto next = co_await coring::timeout(10s, set.wait());
      REQUIRE(next);
      CHECK(*next == SIGUSR1);
    };
    rt.block_on(body());
  }
}

TEST_CASE("a signal raced against a cancel is received exactly once, by the canceled wait or the next") {
  signal_set set{SIGUSR2};
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  auto body = [&]() -> task<int> {
    int by_canceled = 0;
    for (int i = 0; i < 200; ++i) {
      executor ex = i % 2 == 0 ? rt.io() : rt.cpu();
      auto h = coring::spawn(ex, set.wait());
      if (i % 3 == 0) co_await coring::yield();
      send_to_process(SIGUSR2);
      h.cancel();
      result<int> r = std::make_error_code(std::errc::operation_canceled);
      try {
        r = co_await h;
      } catch (const std::system_error& e) {  // canceled before it started
        CHECK(e.code() == std::errc::operation_canceled);
      }
      if (r) {
        CHECK(*r == SIGUSR2);
        ++by_canceled;
      } else {
        CHECK(r.error() == std::errc::operation_canceled);
        auto next = co_await coring::timeout(10s, set.wait());
        REQUIRE(next);
        CHECK(*next == SIGUSR2);
      }
      // Exactly once: nothing is left for a further wait.
      auto extra = co_await coring::timeout(1ms, set.wait());
      CHECK(extra.error() == std::errc::timed_out);
    }
    co_return by_canceled;
  };
  const int by_canceled = rt.block_on(body());
  MESSAGE(by_canceled << " of 200 signals were taken by the wait that was being canceled");
}

TEST_CASE("a signal already queued is returned even after a stop request; otherwise the wait is canceled") {
  signal_set set{SIGUSR1};
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> started{false};
  auto waiter = [&](std::atomic<bool>& stopped) -> task<result<int>> {
    started = true;
    while (!stopped.load()) co_await coring::yield();
    auto first = co_await set.wait();  // queued: returned
    CHECK(first);
    co_return co_await set.wait();  // nothing queued: canceled at once
  };
  std::atomic<bool> stopped{false};
  send_to_process(SIGUSR1);
  auto body = [&]() -> task<result<int>> {
    auto h = coring::spawn(rt.io(), waiter(stopped));
    while (!started.load()) co_await coring::yield();
    h.cancel();
    stopped = true;
    co_return co_await h;
  };
  auto r = rt.block_on(body());
  CHECK(r.error() == std::errc::operation_canceled);
}

TEST_CASE("timeout around a signal wait ends it with timed_out; a later signal is still received") {
  signal_set set{SIGHUP};
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (executor ex : {rt.io(), rt.cpu()}) {
    auto body = [&]() -> task<void> {
      co_await coring::on(ex);
      const auto start = std::chrono::steady_clock::now();
      auto r = co_await coring::timeout(30ms, set.wait());
      CHECK(r.error() == std::errc::timed_out);
      CHECK(std::chrono::steady_clock::now() - start >= 30ms);
      CHECK(ex.running_in_this_thread());
      send_to_process(SIGHUP);
      auto next = co_await coring::timeout(10s, set.wait());
      REQUIRE(next);
      CHECK(*next == SIGHUP);
    };
    rt.block_on(body());
  }
}

TEST_CASE("when_any of a signal wait and a sleep ends with the sleep and takes no signal") {
  signal_set set{SIGUSR1};
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<void> {
    auto first = co_await coring::when_any(set.wait(), coring::sleep_for(10ms));
    CHECK(first.index == 1);
    send_to_process(SIGUSR1);
    auto next = co_await coring::timeout(10s, set.wait());
    REQUIRE(next);
    CHECK(*next == SIGUSR1);
  };
  rt.block_on(body());
}

TEST_CASE("the creating thread blocks the set's signals while it exists and gets its mask back after") {
  REQUIRE(!blocked_here(SIGUSR1));
  // SIGUSR2 was blocked before the set: it must stay blocked after.
  sigset_t usr2;
  ::sigemptyset(&usr2);
  ::sigaddset(&usr2, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, nullptr);
  {
    signal_set set{SIGUSR1, SIGUSR2};
    CHECK(blocked_here(SIGUSR1));
    CHECK(blocked_here(SIGUSR2));
    CHECK(!blocked_here(SIGINT));
  }
  CHECK(!blocked_here(SIGUSR1));
  CHECK(blocked_here(SIGUSR2));
  ::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
  CHECK(!blocked_here(SIGUSR2));
}

TEST_CASE("signals nobody took are discarded when the set goes, not delivered with their default action") {
  // SIGUSR1's default action ends the process: this test fails by killing the run.
  {
    signal_set set{SIGUSR1};
    send_to_process(SIGUSR1);
  }
  sigset_t pending;
  ::sigpending(&pending);
  CHECK(::sigismember(&pending, SIGUSR1) == 0);
  CHECK(!blocked_here(SIGUSR1));
}

TEST_CASE("coring's threads are born with asynchronous signals blocked, faults and SIGPIPE deliverable") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto mask_ok = [] {
    return blocked_here(SIGTERM) && blocked_here(SIGINT) && blocked_here(SIGUSR1) && blocked_here(SIGHUP) &&
           blocked_here(SIGRTMIN) && !blocked_here(SIGSEGV) && !blocked_here(SIGBUS) &&
           !blocked_here(SIGFPE) && !blocked_here(SIGPIPE) && !blocked_here(SIGPROF);
  };
  auto body = [&]() -> task<void> {
    CHECK(mask_ok());  // io loop
    co_await coring::on(rt.cpu());
    CHECK(mask_ok());                                 // CPU worker
    CHECK(co_await coring::spawn_blocking(mask_ok));  // the blocking pool
  };
  CHECK(!blocked_here(SIGTERM));  // and the test thread is left alone
  rt.block_on(body());
  CHECK(!blocked_here(SIGTERM));
}

TEST_CASE(
    "two live sets may not share a signal; disjoint sets coexist; a signal is free again once its set goes") {
  {
    signal_set a{SIGUSR1, SIGUSR2};
    CHECK_THROWS_AS(signal_set({SIGUSR2}), std::logic_error);
    CHECK_THROWS_AS(signal_set({SIGHUP, SIGUSR1}), std::logic_error);
    signal_set b{SIGHUP};
    CHECK(a.contains(SIGUSR1));
    CHECK(!a.contains(SIGHUP));
    CHECK(b.contains(SIGHUP));
  }
  signal_set again{SIGUSR2};
  CHECK(again.contains(SIGUSR2));
  CHECK(again.native_handle() >= 0);
}

TEST_CASE("a signal_set rejects what is not a signal it can take, and changes nothing then") {
  CHECK_THROWS_AS(signal_set({}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({0}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({-3}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({65}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({SIGKILL}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({SIGSTOP}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({SIGSEGV}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({SIGPIPE}), std::invalid_argument);
  CHECK_THROWS_AS(signal_set({32}), std::invalid_argument);  // glibc's own (thread cancellation)
  CHECK_THROWS_AS(signal_set({SIGUSR1, SIGKILL}), std::invalid_argument);
  CHECK(!blocked_here(SIGUSR1));
  signal_set fine{SIGUSR1};  // the failed one claimed nothing
  CHECK(blocked_here(SIGUSR1));
}

TEST_CASE("a signal_set belongs to no runtime: it outlives one and serves the next and sync_wait") {
  signal_set set{SIGUSR1};
  {
    runtime first{{.io_threads = 1, .cpu_threads = 1}};
    send_to_process(SIGUSR1);
    auto got = first.block_on(set.wait());
    REQUIRE(got);
    CHECK(*got == SIGUSR1);
  }
  {
    runtime second{{.io_threads = 2, .cpu_threads = 1}};
    auto body = [&]() -> task<result<int>> {
      co_await coring::on(second.cpu());
      send_to_process(SIGUSR1);
      co_return co_await coring::timeout(10s, set.wait());
    };
    auto got = second.block_on(body());
    REQUIRE(got);
    CHECK(*got == SIGUSR1);
  }
  send_to_process(SIGUSR1);
  auto got = coring::sync_wait(set.wait());
  REQUIRE(got);
  CHECK(*got == SIGUSR1);
}

TEST_CASE("a signal wait in progress when the runtime shuts down with a grace period ends as canceled") {
  signal_set set{SIGUSR1};
  std::atomic<int> outcome{0};  // 1: canceled, 2: something else
  {
    runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    auto waiter = [&]() -> task<void> {
      auto r = co_await set.wait();
      outcome = !r && r.error() == std::errc::operation_canceled ? 1 : 2;
    };
    coring::spawn_detached(rt.cpu(), waiter());
    std::this_thread::sleep_for(10ms);
    rt.shutdown(5s);
  }
  CHECK(outcome.load() == 1);
}

TEST_CASE("a thread-directed signal stuck on the io thread neither hangs nor spins a CPU-pool wait") {
  signal_set set{SIGUSR1, SIGUSR2};
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto body = [&]() -> task<void> {
    // raise() on the loop's thread: pending for that thread only, so the signalfd stays ready for
    // the loop's polls while a reader on a CPU worker cannot take it.
    REQUIRE(::raise(SIGUSR1) == 0);
    co_await coring::on(rt.cpu());
    std::thread sender([] {
      std::this_thread::sleep_for(50ms);
      ::kill(::getpid(), SIGUSR2);
    });
    auto r = co_await coring::timeout(10s, set.wait());
    sender.join();
    REQUIRE(r);
    CHECK(*r == SIGUSR2);
    CHECK(rt.cpu().running_in_this_thread());
    // A wait that reads on the loop's own thread takes the stuck one.
    co_await coring::on(rt.io());
    auto stuck = co_await coring::timeout(10s, set.wait());
    REQUIRE(stuck);
    CHECK(*stuck == SIGUSR1);
  };
  rt.block_on(body());
}

namespace {

task<void> echo(coring::net::tcp_stream s) {
  std::array<std::byte, 256> buf;
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span<const std::byte>(buf.data(), *n))) co_return;
  }
}

task<void> serve(coring::net::tcp_listener& listener, executor io) {
  for (;;) {
    auto s = co_await listener.accept();
    if (!s) co_return;  // canceled: the signal came
    coring::spawn_detached(io, echo(std::move(*s)));
  }
}

}  // namespace

TEST_CASE("a server stops gracefully on SIGTERM in three lines") {
  using namespace coring::net;
  signal_set stop{SIGINT, SIGTERM};  // 1: before the runtime, in the thread that makes it
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0)).value();
  const endpoint where = listener.local_endpoint().value();
  std::atomic<bool> echoed{false};
  std::thread client([&] {
    auto talk = [&]() -> task<void> {
      auto c = co_await tcp_stream::connect(where);
      REQUIRE(c);
      REQUIRE(co_await c->write_all(std::as_bytes(std::span<const char>("ping", 4))));
      std::array<std::byte, 4> back{};
      REQUIRE(co_await c->read_exact(back));
      echoed = std::memcmp(back.data(), "ping", 4) == 0;
    };
    coring::sync_wait(talk());
    ::kill(::getpid(), SIGTERM);
  });
  // 2-3: serve until a signal comes; when_any then cancels the server's accept.
  auto done = rt.block_on(coring::when_any(serve(listener, rt.io()), stop.wait()));
  client.join();
  CHECK(done.index == 1);
  CHECK(std::get<1>(done.value).value() == SIGTERM);
  CHECK(echoed.load());
}
