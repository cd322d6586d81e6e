// SPDX-License-Identifier: MIT
// An event_loop embedded in a host's own epoll_wait loop through native_handle() and
// next_timeout(): no task lost, none delayed past a host iteration, no spinning while idle.
#include <doctest/doctest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/net/unix_stream.hpp>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::event_loop;
using coring::task;

namespace {

/// A bare epoll_wait host: one descriptor (the loop's), sleeps at most next_timeout().
class epoll_host {
 public:
  explicit epoll_host(event_loop& loop) : loop_(loop), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    REQUIRE(epoll_ >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    REQUIRE(::epoll_ctl(epoll_, EPOLL_CTL_ADD, loop.native_handle(), &ev) == 0);
  }
  ~epoll_host() { ::close(epoll_); }
  epoll_host(const epoll_host&) = delete;
  epoll_host& operator=(const epoll_host&) = delete;

  /// One host iteration: sleep until the descriptor is readable or the loop's timeout (capped:
  /// a wait that ends by the cap is a lost wake-up, counted), then poll().
  void iterate(std::chrono::milliseconds cap = 2s) {
    const std::optional<std::chrono::nanoseconds> timeout = loop_.next_timeout();
    int ms = static_cast<int>(cap.count());
    bool capped = true;
    if (timeout) {
      const auto want = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
      if (want < ms) {
        ms = static_cast<int>(want);
        capped = false;
      }
    }
    epoll_event ev{};
    const int n = ::epoll_wait(epoll_, &ev, 1, ms);
    if (n == 0 && capped) ++waits_that_hit_the_cap;
    loop_.poll();
    iterations.fetch_add(1, std::memory_order_release);
  }

  std::atomic<long> iterations{0};
  int waits_that_hit_the_cap = 0;

 private:
  event_loop& loop_;
  int epoll_;
};

double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

TEST_CASE("a host's epoll loop runs every task spawned from another thread within two iterations") {
  event_loop loop;
  epoll_host host(loop);
  constexpr int tasks = 200;
  std::atomic<int> ran{0};
  std::vector<long> lag(tasks, -1);  // host iterations between a spawn and its run
  auto job = [](std::atomic<int>& count, std::vector<long>& lags, int index, long spawned_at,
                const std::atomic<long>& iterations) -> task<void> {
    lags[static_cast<std::size_t>(index)] = iterations.load(std::memory_order_acquire) - spawned_at;
    count.fetch_add(1, std::memory_order_release);
    co_return;
  };
  std::thread spawner([&] {
    for (int i = 0; i < tasks; ++i) {
      loop.spawn(job(ran, lag, i, host.iterations.load(std::memory_order_acquire), host.iterations)).detach();
      const auto deadline =
          std::chrono::steady_clock::now() + 10s;  // one at a time: each wakes a sleeping host
      while (ran.load(std::memory_order_acquire) <= i && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100us);
      }
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (ran.load() < tasks && std::chrono::steady_clock::now() < deadline) host.iterate();
  spawner.join();
  CHECK(ran.load() == tasks);
  CHECK(host.waits_that_hit_the_cap == 0);  // every spawn made the descriptor readable
  for (long l : lag) CHECK(l <= 2);         // spawned during iteration k: run by k + 2 at the latest
}

TEST_CASE("a host's epoll loop wakes for a due timer and for a completed read, and not in between") {
  event_loop loop;
  epoll_host host(loop);
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  std::atomic<bool> slept{false};
  std::atomic<bool> read{false};
  auto sleeper = [](std::atomic<bool>& done) -> task<void> {
    (void)co_await coring::sleep_for(30ms);
    done.store(true);
  };
  auto reader = [](int fd, std::atomic<bool>& done) -> task<void> {
    coring::net::unix_stream stream{fd};
    char buffer[16];
    auto n = co_await stream.read(buffer);
    CHECK(n.has_value());
    done.store(true);
  };
  loop.spawn(sleeper(slept)).detach();
  loop.spawn(reader(fds[0], read)).detach();

  const auto begin = std::chrono::steady_clock::now();
  while (!slept.load() && std::chrono::steady_clock::now() - begin < 10s) host.iterate();
  CHECK(slept.load());
  CHECK(host.waits_that_hit_the_cap == 0);
  const long after_timer = host.iterations.load();
  CHECK(after_timer <= 6);  // a few turns to start the tasks, then one sleep until the timer

  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    CHECK(::write(fds[1], "x", 1) == 1);
  });
  while (!read.load() && std::chrono::steady_clock::now() - begin < 10s) host.iterate();
  writer.join();
  CHECK(read.load());
  CHECK(host.waits_that_hit_the_cap == 0);           // the completion made the descriptor readable
  CHECK(host.iterations.load() - after_timer <= 3);  // not one iteration per millisecond
  ::close(fds[1]);
}

TEST_CASE("an idle loop hosted by epoll_wait sleeps in epoll_wait instead of spinning") {
  event_loop loop;
  epoll_host host(loop);
  auto forever = []() -> task<void> { (void)co_await coring::sleep_for(1h); };
  auto h = loop.spawn(forever());
  for (int i = 0; i < 3; ++i) host.iterate(10ms);  // let it start and reach its sleep
  const double cpu_before = thread_cpu_ms();
  const auto begin = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - begin < 500ms) host.iterate(100ms);
  const double cpu_ms = thread_cpu_ms() - cpu_before;
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  // A spinning host burns a whole core; the bound leaves room for a sanitizer build on a busy CI
  // machine (CI's asan run once measured just over 1%).
  CHECK(cpu_ms < wall_ms / 20);
  CHECK(host.iterations.load() < 20);  // it slept: a spinning host would count thousands
  h.cancel();
  for (int i = 0; i < 100 && !h.done(); ++i) host.iterate(10ms);
  CHECK(h.done());
}

TEST_CASE("after work from another thread the hosted loop's descriptor goes quiet again") {
  // A wake-up signals the descriptor; the turn that runs the woken work must leave it unreadable,
  // also when that turn had no reason to ask the kernel for events (nothing parked on a socket).
  event_loop loop;
  epoll_host host(loop);
  auto forever = []() -> task<void> { (void)co_await coring::sleep_for(1h); };
  auto h = loop.spawn(forever());
  for (int i = 0; i < 3; ++i) host.iterate(10ms);
  std::atomic<int> ran{0};
  auto job = [](std::atomic<int>& count) -> task<void> {
    count.fetch_add(1, std::memory_order_release);
    co_return;
  };
  for (int round = 0; round < 5; ++round) {
    std::thread([&] { loop.spawn(job(ran)).detach(); }).join();
    const long before = host.iterations.load();
    const auto begin = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - begin < 100ms) host.iterate(50ms);
    CHECK(ran.load() == round + 1);
    CHECK(host.iterations.load() - before < 10);  // a readable descriptor would spin the host
  }
  h.cancel();
  for (int i = 0; i < 100 && !h.done(); ++i) host.iterate(10ms);
  CHECK(h.done());
}

TEST_CASE("a burst of more completions than one turn hands on keeps next_timeout at zero until all ran") {
  event_loop loop;
  epoll_host host(loop);
  constexpr int readers = 400;  // more than a turn's 256 completions
  std::vector<int> write_ends;
  std::atomic<int> done{0};
  auto reader = [](int fd, std::atomic<int>& count) -> task<void> {
    coring::net::unix_stream stream{fd};
    char buffer[4];
    auto n = co_await stream.read(buffer);
    if (n && *n == 1) count.fetch_add(1);
  };
  for (int i = 0; i < readers; ++i) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    write_ends.push_back(fds[1]);
    loop.spawn(reader(fds[0], done)).detach();
  }
  for (int i = 0; i < 10; ++i) host.iterate(10ms);  // every read submitted (these waits end by the cap)
  host.waits_that_hit_the_cap = 0;
  for (int fd : write_ends) REQUIRE(::write(fd, "x", 1) == 1);
  const auto begin = std::chrono::steady_clock::now();
  while (done.load() < readers && std::chrono::steady_clock::now() - begin < 10s) host.iterate();
  CHECK(done.load() == readers);
  CHECK(host.waits_that_hit_the_cap == 0);
  for (int fd : write_ends) ::close(fd);
}

TEST_CASE("native_handle binds the loop to its thread: another thread may not drive it") {
  event_loop loop;
  (void)loop.native_handle();
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
  CHECK(loop.native_handle() == loop.native_handle());  // one descriptor, made once
}
