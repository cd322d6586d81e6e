// SPDX-License-Identifier: MIT
// runtime_options::stall_threshold: a thread that runs one task for too long is reported once,
// with the task's spawn site and the co_await it resumed from; busy or idle threads are not.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "coring/coring.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coring::task;

namespace {

struct report_sink {
  std::mutex mutex;
  std::vector<coring::stall_report> reports;

  static coring::runtime_options options(std::chrono::milliseconds threshold) {
    return {.io_threads = 1, .cpu_threads = 1, .stall_threshold = threshold};
  }
  void listen(coring::runtime& rt) {
    rt.set_stall_handler([this](const coring::stall_report& r) {
      std::lock_guard lock(mutex);
      reports.push_back(r);
    });
  }
  std::vector<coring::stall_report> taken() {
    std::lock_guard lock(mutex);
    return reports;
  }
};

/// A task that waits once, then blocks its thread for `blocked` (what the detector must see).
struct blocker {
  static constexpr unsigned resume_line = __LINE__ + 2;
  static task<void> run(std::chrono::milliseconds blocked) {
    (void)co_await coring::sleep_for(1ms);
    std::this_thread::sleep_for(blocked);
  }
};

}  // namespace

TEST_CASE(
    "a task that blocks an io loop for 300 ms is reported once, with where it was spawned and resumed") {
  report_sink sink;
  {
    coring::runtime rt{sink.options(100ms)};
    sink.listen(rt);
    const unsigned spawn_line = __LINE__ + 1;
    auto h = coring::spawn(rt.io(), blocker::run(300ms));
    rt.block_on(std::move(h));
    // The next look (every 25 ms) sees the run ended: nothing more is reported for it.
    std::this_thread::sleep_for(60ms);
    const auto reports = sink.taken();
    REQUIRE(reports.size() == 1);
    const auto& r = reports.front();
    CHECK(r.thread == "io-0");
    CHECK(r.duration >= 100ms);
    CHECK(r.duration <= 300ms);
    CHECK(r.threshold == 100ms);
    CHECK(r.spawned_at.line() == spawn_line);
    CHECK(std::string_view(r.spawned_at.file_name()).ends_with("stall_detector_test.cpp"));
    CHECK(r.resumed_at.line() == blocker::resume_line);
    const std::string line = coring::to_string(r);
    CHECK(line.find("io-0 has run one task for") != std::string::npos);
    CHECK(line.find("stall_detector_test.cpp:" + std::to_string(blocker::resume_line)) != std::string::npos);
  }
}

TEST_CASE("a CPU worker that runs one task too long is reported as that worker") {
  report_sink sink;
  coring::runtime rt{sink.options(100ms)};
  sink.listen(rt);
  auto on_cpu = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    co_await blocker::run(300ms);
  };
  rt.block_on(on_cpu());
  coring_test::block_until([&] { return !sink.taken().empty(); });
  const auto reports = sink.taken();
  REQUIRE(reports.size() == 1);
  CHECK(reports.front().thread == "cpu-0");
  CHECK(reports.front().resumed_at.line() == blocker::resume_line);
}

TEST_CASE("two stalls of one thread are two reports") {
  report_sink sink;
  coring::runtime rt{sink.options(100ms)};
  sink.listen(rt);
  auto twice = []() -> task<void> {
    co_await blocker::run(250ms);
    co_await blocker::run(250ms);
  };
  rt.block_on(twice());
  coring_test::block_until([&] { return sink.taken().size() >= 2; });
  std::this_thread::sleep_for(60ms);
  CHECK(sink.taken().size() == 2);
}

TEST_CASE("a loop busy with many short tasks for a second, and an idle one, are not reported") {
  report_sink sink;
  coring::runtime rt{sink.options(100ms)};
  sink.listen(rt);
  std::atomic<int> done{0};
  auto short_one = [&]() -> task<void> {
    co_await coring::yield();
    done.fetch_add(1);
  };
  auto busy = [&]() -> task<void> {
    const auto end = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < end) {
      for (int i = 0; i < 100; ++i) coring::spawn_detached(rt.io(), short_one());
      co_await coring::yield();  // each stretch between yields is short
    }
  };
  rt.block_on(busy());
  coring_test::block_until([&] { return done.load() > 0; });
  std::this_thread::sleep_for(300ms);  // idle: the loop sleeps in the kernel
  CHECK(sink.taken().empty());
}

TEST_CASE("with stall_threshold 0 nothing is watched") {
  report_sink sink;
  coring::runtime rt{sink.options(0ms)};
  sink.listen(rt);
  rt.block_on(blocker::run(200ms));
  CHECK(sink.taken().empty());
}
