// SPDX-License-Identifier: MIT
// runtime::dump_tasks(): where each unfinished task tree was spawned, what it waits for, and the
// co_await of each of its frames; the thread list; the dump on runtime_options::dump_signal.
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "coring/coring.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coring::task;

namespace {

bool in_this_file(const std::source_location& where) {
  return std::string_view(where.file_name()).ends_with("task_dump_test.cpp");
}

/// The dump's trees whose innermost frame waits at `line` of this file.
std::size_t waiting_at(const coring::task_dump& dump, unsigned line, std::string_view wait) {
  std::size_t n = 0;
  for (const auto& t : dump.trees) {
    if (t.running_on.empty() && !t.frames.empty() && in_this_file(t.frames.back()) &&
        t.frames.back().line() == line && t.wait.find(wait) != std::string::npos)
      ++n;
  }
  return n;
}

struct five_waits {
  coring::channel<int> items{4};
  coring::async_mutex mutex;
  coring::async_event event;
  std::atomic<int> started{0};

  static constexpr unsigned sleep_line = __LINE__ + 3;
  task<void> sleeper() {
    started.fetch_add(1);
    (void)co_await coring::sleep_for(1h);
  }
  static constexpr unsigned receive_line = __LINE__ + 3;
  task<void> receiver() {
    started.fetch_add(1);
    (void)co_await items.receive();
  }
  static constexpr unsigned lock_line = __LINE__ + 3;
  task<void> locker() {
    started.fetch_add(1);
    auto guard = co_await mutex.scoped_lock();
  }
  static constexpr unsigned event_line = __LINE__ + 3;
  task<void> event_waiter() {
    started.fetch_add(1);
    (void)co_await event.wait();
  }
  static constexpr unsigned join_line = __LINE__ + 4;
  task<void> joiner(coring::executor ex) {
    auto child = coring::spawn(ex, sleeper());
    started.fetch_add(1);
    co_await child;
  }
};

static constexpr unsigned inner_line = __LINE__ + 2;
task<void> inner_sleep() {
  (void)co_await coring::sleep_for(1h);
}
static constexpr unsigned outer_line = __LINE__ + 2;
task<void> outer_awaits_inner() {
  co_await inner_sleep();
}

/// Sends the process's stderr to a file until restore() (or destruction), for tests of what the
/// runtime prints there.
class captured_stderr {
 public:
  captured_stderr() : path_(dir_.path() + "/stderr.txt") {
    std::fflush(stderr);
    saved_ = ::dup(2);
    REQUIRE(saved_ >= 0);
    file_ = std::fopen(path_.c_str(), "w");
    REQUIRE(file_ != nullptr);
    ::dup2(::fileno(file_), 2);
  }
  ~captured_stderr() { restore(); }
  captured_stderr(const captured_stderr&) = delete;
  captured_stderr& operator=(const captured_stderr&) = delete;

  /// What was printed so far.
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
    std::fclose(file_);
  }

 private:
  coring_test::temp_dir dir_;
  std::string path_;
  int saved_ = -1;
  std::FILE* file_ = nullptr;
};

}  // namespace

TEST_CASE("the dump names the wait and the line of each of 1,000 suspended tasks in 5 kinds of wait") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2, .stall_threshold = 0ms}};
  five_waits w;
  auto held = rt.block_on([](coring::async_mutex& m) -> task<coring::async_mutex::lock_guard> {
    co_return co_await m.scoped_lock();
  }(w.mutex));
  constexpr int each = 200;
  for (int i = 0; i < each; ++i) {
    const coring::executor ex = i % 2 == 0 ? rt.io() : rt.cpu();
    coring::spawn_detached(ex, w.sleeper());
    coring::spawn_detached(ex, w.receiver());
    coring::spawn_detached(ex, w.locker());
    coring::spawn_detached(ex, w.event_waiter());
    coring::spawn_detached(ex, w.joiner(ex));
  }
  // Each joiner's child sleeps too: 1,200 trees in all, each counted once it is suspended.
  coring::task_dump dump;
  coring_test::block_until([&] {
    if (w.started.load() < 6 * each) return false;
    dump = rt.dump_tasks();
    return waiting_at(dump, five_waits::sleep_line, "sleep") == 2 * each &&
           waiting_at(dump, five_waits::receive_line, "channel receive") == each &&
           waiting_at(dump, five_waits::lock_line, "mutex lock") == each &&
           waiting_at(dump, five_waits::event_line, "event wait") == each &&
           waiting_at(dump, five_waits::join_line, "join of a spawned task") == each;
  });
  CHECK(dump.unfinished >= 6 * each);
  std::map<unsigned, int> spawn_lines;
  for (const auto& t : dump.trees) {
    if (in_this_file(t.spawned_at)) ++spawn_lines[t.spawned_at.line()];
  }
  CHECK(spawn_lines.size() == 6);  // five spawn_detached lines above, and the joiners' spawn of their child
  // A sleep says when it is due.
  bool due_shown = false;
  for (const auto& t : dump.trees) due_shown = due_shown || t.wait.find("due in") != std::string::npos;
  CHECK(due_shown);

  std::ostringstream text;
  rt.dump_tasks(text);
  const std::string printed = text.str();
  CHECK(printed.find("waits at ") != std::string::npos);
  CHECK(printed.find("task_dump_test.cpp:" + std::to_string(five_waits::receive_line)) != std::string::npos);
  CHECK(printed.find("waiting for channel receive") != std::string::npos);
  CHECK(printed.find("io-0: ") != std::string::npos);
  w.event.set();
  rt.shutdown();
}

TEST_CASE("the dump shows every frame of a tree from the root's co_await down to the wait") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .stall_threshold = 0ms}};
  const unsigned spawn_line = __LINE__ + 1;
  auto h = coring::spawn(rt.cpu(), outer_awaits_inner());
  coring::task_dump::tree tree;
  coring_test::block_until([&] {
    for (const auto& t : rt.dump_tasks().trees) {
      if (t.frames.size() == 2 && t.running_on.empty()) {
        tree = t;
        return true;
      }
    }
    return false;
  });
  CHECK(tree.spawned_at.line() == spawn_line);
  CHECK(in_this_file(tree.spawned_at));
  CHECK(tree.frames[0].line() == outer_line);
  CHECK(tree.frames[1].line() == inner_line);
  CHECK(std::string_view(tree.frames[1].function_name()).find("inner_sleep") != std::string_view::npos);
  CHECK(tree.wait.find("sleep") == 0);
  CHECK(coring::to_string(tree.frames[1]).find("inner_sleep") != std::string::npos);
  h.cancel();
  rt.block_on(std::move(h));  // the sleep ends as canceled, which inner_sleep ignores
  CHECK(rt.dump_tasks().trees.empty());
}

TEST_CASE("the dump names the runtime's threads, which carry those names in the OS too") {
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  const auto dump = rt.dump_tasks();
  REQUIRE(dump.threads.size() == 3);
  CHECK(dump.threads[0].name == "io-0");
  CHECK(dump.threads[1].name == "io-1");
  CHECK(dump.threads[2].name == "cpu-0");
  auto os_name = []() -> task<std::string> {
    char name[16] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof name);
    co_return std::string(name);
  };
  CHECK(rt.block_on(os_name()) == "coring-io-0");
  auto on_cpu = [&]() -> task<std::string> {
    co_await coring::on(rt.cpu());
    co_return co_await [&]() -> task<std::string> {
      char name[16] = {};
      ::pthread_getname_np(::pthread_self(), name, sizeof name);
      co_return std::string(name);
    }();
  };
  CHECK(rt.block_on(on_cpu()) == "coring-cpu-0");
}

TEST_CASE("a thread's entry shows the task it runs: its spawn site and the co_await it resumed from") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .stall_threshold = 0ms}};
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  const unsigned resume_line = __LINE__ + 2;
  auto busy = [&]() -> task<void> {
    (void)co_await coring::sleep_for(1ms);
    inside.store(true);
    while (!release.load()) std::this_thread::sleep_for(1ms);  // holds the loop on purpose
  };
  const unsigned spawn_line = __LINE__ + 1;
  auto h = coring::spawn(rt.io(), busy());
  coring_test::block_until([&] { return inside.load(); });
  const auto dump = rt.dump_tasks();
  release.store(true);
  REQUIRE(dump.threads.size() == 2);
  CHECK(dump.threads[0].running);
  CHECK(dump.threads[0].spawned_at.line() == spawn_line);
  CHECK(dump.threads[0].resumed_at.line() == resume_line);
  CHECK_FALSE(dump.threads[1].running);
  rt.block_on(std::move(h));
}

TEST_CASE("dumping while tasks hop between pools and hand items over is safe") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2, .stall_threshold = 0ms}};
  std::atomic<bool> stop{false};
  coring::channel<int> ch{1};
  auto hopper = [&]() -> task<void> {
    while (!stop.load()) {
      co_await coring::on(rt.cpu());
      co_await coring::on(rt.io());
    }
  };
  auto producer = [&]() -> task<void> {
    for (int i = 0; !stop.load(); ++i) (void)co_await ch.send(i);
    ch.close();
  };
  auto consumer = [&]() -> task<void> {
    while (co_await ch.receive()) {
    }
  };
  std::vector<coring::join_handle<void>> all;
  for (int i = 0; i < 4; ++i) all.push_back(coring::spawn(rt.io(), hopper()));
  all.push_back(coring::spawn(rt.cpu(), producer()));
  all.push_back(coring::spawn(rt.io(), consumer()));
  int saw_hop = 0;
  int saw_running = 0;
  const auto end = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < end) {
    const auto dump = rt.dump_tasks();
    CHECK(dump.threads.size() == 3);
    for (const auto& t : dump.trees) {
      if (!t.running_on.empty()) ++saw_running;
      if (t.wait.find("on(executor)") != std::string::npos) ++saw_hop;
    }
  }
  stop.store(true);
  for (auto& h : all) rt.block_on(std::move(h));
  CHECK(saw_hop + saw_running > 0);
}

TEST_CASE("the dump signal prints the dump to stderr, also while the io loop is stuck") {
  captured_stderr captured;
  std::string printed;
  {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .stall_threshold = 0ms, .dump_signal = SIGUSR1}};
    std::atomic<bool> inside{false};
    std::atomic<bool> release{false};
    auto sleeper = []() -> task<void> { (void)co_await coring::sleep_for(1h); };
    auto stuck = [&]() -> task<void> {
      (void)co_await coring::sleep_for(1ms);
      inside.store(true);
      while (!release.load()) std::this_thread::sleep_for(1ms);  // the loop cannot run anything else
    };
    auto asleep = coring::spawn(rt.cpu(), sleeper());
    auto h = coring::spawn(rt.io(), stuck());
    coring_test::block_until([&] { return inside.load(); });
    ::kill(::getpid(), SIGUSR1);
    coring_test::block_until([&] {
      printed = captured.text();
      return printed.find("threads:") != std::string::npos;
    });
    release.store(true);
    rt.block_on(std::move(h));
    asleep.cancel();
  }
  captured.restore();
  CHECK(printed.find("coring: task dump:") != std::string::npos);
  CHECK(printed.find("io-0: running a task spawned at") != std::string::npos);
  CHECK(printed.find("waiting for sleep") != std::string::npos);
  // The runtime took the signal back: SIGUSR1 is not blocked here any more.
  sigset_t now;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
  CHECK(sigismember(&now, SIGUSR1) == 0);
}

TEST_CASE("a dump signal already pending when the runtime starts is answered at once") {
  // The watchdog's thread reads it as soon as it starts, while the runtime is still being built:
  // the dump must not touch what the constructor has not finished (TSan saw that race).
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t previous;
  ::pthread_sigmask(SIG_BLOCK, &usr1, &previous);
  REQUIRE(::kill(::getpid(), SIGUSR1) == 0);  // pending: every thread of the process blocks it
  captured_stderr captured;
  std::string printed;
  {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .stall_threshold = 0ms, .dump_signal = SIGUSR1}};
    coring_test::block_until([&] {
      printed = captured.text();
      return printed.find("threads:") != std::string::npos;
    });
  }
  captured.restore();
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  CHECK(printed.find("coring: task dump:") != std::string::npos);
}

TEST_CASE("runtime options for the stall detector and the dump signal are checked") {
  CHECK_THROWS_AS(coring::runtime({.stall_threshold = -1ms}), std::invalid_argument);
  CHECK_THROWS_AS(coring::runtime({.dump_signal = SIGSEGV}), std::invalid_argument);
  CHECK_THROWS_AS(coring::runtime({.dump_signal = SIGKILL}), std::invalid_argument);
  CHECK_THROWS_AS(coring::runtime({.dump_signal = 1000}), std::invalid_argument);
}
