// SPDX-License-Identifier: MIT
// A loop's turn is bounded: tasks whose I/O always completes at once (page-cached file reads,
// sockets that always have data, more requests than the ring has entries) cannot keep timers,
// remote work, newly spawned tasks or stop() from their turn.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using coring::task;
using coring_test::block_until;

/// Ends the process if the test body hangs: a starved loop would otherwise hang until CTest's
/// timeout, and shutdown() cannot be reached either.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit, const char* what) {
    thread_ = std::thread([this, limit, what] {
      std::unique_lock lock(mutex_);
      if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s did not finish within %llds\n", what,
                     static_cast<long long>(limit.count()));
        std::_Exit(3);
      }
    });
  }
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_one();
    thread_.join();
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

struct load {
  std::atomic<bool> stop{false};
  std::atomic<long> file_reads{0};
  std::atomic<long> socket_reads{0};
  std::atomic<int> running{0};

  task<void> file_reader(std::string path) {
    running.fetch_add(1);
    auto f = co_await coring::file::open(path);
    REQUIRE(f.has_value());
    std::array<std::byte, 4096> buffer{};
    while (!stop.load(std::memory_order_relaxed)) {
      auto n = co_await f->read_at(buffer, 0);
      if (!n) break;
      file_reads.fetch_add(1, std::memory_order_relaxed);
    }
    running.fetch_sub(1);
  }

  /// Reads what its partner writes: both always find the socket ready.
  task<void> socket_reader(coring::net::unix_stream s) {
    running.fetch_add(1);
    std::array<std::byte, 4096> buffer{};
    while (!stop.load(std::memory_order_relaxed)) {
      auto n = co_await s.read(buffer);
      if (!n || *n == 0) break;
      socket_reads.fetch_add(1, std::memory_order_relaxed);
    }
    running.fetch_sub(1);
  }
  task<void> socket_writer(coring::net::unix_stream s) {
    running.fetch_add(1);
    std::array<std::byte, 4096> buffer{};
    while (!stop.load(std::memory_order_relaxed)) {
      auto n = co_await s.write(buffer);
      if (!n) break;
    }
    running.fetch_sub(1);
  }
};

std::string page_cached_file() {
  const auto path = std::filesystem::temp_directory_path() / ("coring_fair_" + std::to_string(::getpid()));
  std::ofstream out(path, std::ios::binary);
  const std::string block(64 * 1024, 'x');
  out << block;
  out.close();
  std::ifstream warm(path, std::ios::binary);  // into the page cache
  std::string sink((std::istreambuf_iterator<char>(warm)), std::istreambuf_iterator<char>());
  return path.string();
}

std::pair<coring::net::unix_stream, coring::net::unix_stream> stream_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {coring::net::unix_stream{fds[0]}, coring::net::unix_stream{fds[1]}};
}

/// Starts `files` tight file readers and `sockets` reader/writer pairs on the runtime's only loop.
void start_load(coring::runtime& rt, load& l, const std::string& path, int files, int sockets) {
  for (int i = 0; i < files; ++i) coring::spawn_detached(rt.io(), l.file_reader(path));
  for (int i = 0; i < sockets; ++i) {
    auto [a, b] = stream_pair();
    coring::spawn_detached(rt.io(), l.socket_reader(std::move(a)));
    coring::spawn_detached(rt.io(), l.socket_writer(std::move(b)));
  }
  block_until([&] { return l.file_reads.load() > 1000 && (sockets == 0 || l.socket_reads.load() > 1000); });
}

std::chrono::nanoseconds timed_sleep(coring::runtime& rt, std::chrono::milliseconds d) {
  return rt.block_on([](std::chrono::milliseconds length) -> task<std::chrono::nanoseconds> {
    const auto start = std::chrono::steady_clock::now();
    (void)co_await coring::sleep_for(length);
    co_return std::chrono::steady_clock::now() - start;
  }(d));
}

}  // namespace

TEST_CASE("a timer on a loop busy with always-ready file and socket reads fires on time") {
  watchdog dog(20s, "the timer under load");
  const std::string path = page_cached_file();
  // A small ring: the readers together need more requests than it has entries.
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .ring_entries = 32}};
  load l;
  start_load(rt, l, path, 64, 64);
  std::chrono::nanoseconds worst{0};
  for (int i = 0; i < 5; ++i) worst = std::max(worst, timed_sleep(rt, 10ms));
  MESSAGE("worst 10 ms sleep under load: " << std::chrono::duration<double, std::milli>(worst).count()
                                           << " ms");
  CHECK(worst < 50ms);
  // Remote work and newly spawned tasks get their turn too.
  CHECK(rt.block_on([]() -> task<int> { co_return 7; }()) == 7);
  l.stop = true;
  block_until([&] { return l.running.load() == 0; });
  std::filesystem::remove(path);
}

TEST_CASE("eight tight readers of a page-cached file leave a sleep on the same loop its turn") {
  watchdog dog(20s, "the sleep beside 8 readers");
  const std::string path = page_cached_file();
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  load l;
  start_load(rt, l, path, 8, 0);
  CHECK(timed_sleep(rt, 10ms) < 50ms);
  l.stop = true;
  block_until([&] { return l.running.load() == 0; });
  std::filesystem::remove(path);
}

TEST_CASE("shutdown under a load of always-ready reads returns within a second") {
  watchdog dog(20s, "shutdown under load");
  const std::string path = page_cached_file();
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .ring_entries = 32}};
  load l;
  start_load(rt, l, path, 64, 64);
  const auto start = std::chrono::steady_clock::now();
  rt.shutdown();
  const auto took = std::chrono::steady_clock::now() - start;
  MESSAGE("shutdown took " << std::chrono::duration<double, std::milli>(took).count() << " ms");
  CHECK(took < 1s);
  std::filesystem::remove(path);
}

namespace {

/// Sends and receives on a channel that never fills up or runs dry: no operation ever has to
/// suspend, so only the coop budget lets anything else run on this thread.
task<void> never_waits(coring::channel<int>& ch, std::atomic<bool>& stop, std::atomic<long>& rounds,
                       std::atomic<bool>& finished) {
  while (!stop.load(std::memory_order_relaxed)) {
    auto sent = co_await ch.send(1);
    REQUIRE(sent.has_value());
    auto got = co_await ch.receive();
    REQUIRE(got.has_value());
    rounds.fetch_add(1, std::memory_order_relaxed);
  }
  finished = true;
}

void check_budget_lets_others_run(coring::runtime& rt, coring::executor ex) {
  coring::channel<int> ch(4);
  std::atomic<bool> stop{false};
  std::atomic<long> rounds{0};
  std::atomic<bool> finished{false};
  coring::spawn_detached(ex, never_waits(ch, stop, rounds, finished));
  block_until([&] { return rounds.load() > 1000; });
  // A task spawned on the same pool (here: the same single thread) gets its turn.
  auto h = coring::spawn(ex, []() -> task<int> { co_return 11; }());
  CHECK(rt.block_on([](coring::join_handle<int> j) -> task<int> { co_return co_await j; }(std::move(h))) ==
        11);
  stop = true;
  block_until([&] { return finished.load(); });  // the channel outlives the task
}

}  // namespace

TEST_CASE("a task whose channel operations never suspend yields its loop after the coop budget") {
  watchdog dog(20s, "the task beside a never-waiting one on the loop");
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  check_budget_lets_others_run(rt, rt.io());
}

TEST_CASE("a task whose channel operations never suspend yields its CPU worker after the coop budget") {
  watchdog dog(20s, "the task beside a never-waiting one on the CPU worker");
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  check_budget_lets_others_run(rt, rt.cpu());
}
