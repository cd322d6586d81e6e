// SPDX-License-Identifier: MIT
// runtime::metrics() per loop, per CPU worker and for the blocking pool, and its latency
// histograms (scheduling delay, loop turn duration): each counter moves with the event it names,
// on the thread it names.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <future>
#include <numeric>
#include <thread>
#include <vector>

#include "observe/thread_counters.hpp"  // delay_probe::interval
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using coring::task;
using coring_test::block_until;

void spin_for(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

task<void> busy(std::chrono::nanoseconds d) {
  spin_for(d);
  co_return;
}

/// Keeps the loop's thread until `release` is set: what is queued there meanwhile waits.
task<void> hold_the_loop(std::atomic<bool>& holding, const std::atomic<bool>& release) {
  holding.store(true);
  while (!release.load()) std::this_thread::yield();
  co_return;
}

task<void> hop_back_and_forth(coring::executor io, coring::executor cpu, int hops) {
  for (int i = 0; i < hops; ++i) {
    co_await coring::on(cpu);
    co_await coring::on(io);
  }
}

}  // namespace

TEST_CASE("metrics has one entry per loop and per CPU worker, and the sums match the parts") {
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  rt.block_on(hop_back_and_forth(rt.io(), rt.cpu(), 200));
  const coring::runtime_metrics m = rt.metrics();
  REQUIRE(m.loops.size() == 2);
  REQUIRE(m.workers.size() == 2);
  std::uint64_t submissions = 0, completions = 0, wakeups = 0, steals = 0, parks = 0;
  for (const auto& loop : m.loops) {
    submissions += loop.submissions;
    completions += loop.completions;
    wakeups += loop.wakeups_received;
  }
  for (const auto& worker : m.workers) {
    steals += worker.steals;
    parks += worker.parks;
  }
  CHECK(submissions == m.ring_submissions);
  CHECK(completions == m.ring_completions);
  CHECK(wakeups == m.ring_wakeups);
  CHECK(steals == m.steals);
  CHECK(parks == m.cpu_parks);
  coring::latency_histogram io_delay, cpu_delay, turns;
  for (const auto& loop : m.loops) {
    io_delay += loop.scheduling_delay;
    turns += loop.turn_duration;
  }
  for (const auto& worker : m.workers) cpu_delay += worker.scheduling_delay;
  CHECK(io_delay.count() == m.io_scheduling_delay.count());
  CHECK(cpu_delay.count() == m.cpu_scheduling_delay.count());
  CHECK(turns.count() == m.loop_turn_duration.count());
  for (const auto& loop : m.loops) {
    // A 256-entry ring never filled by hops: the counters of full queues stay at zero.
    CHECK(loop.sq_full == 0);
    CHECK(loop.cq_overflows == 0);
  }
}

TEST_CASE("tasks run are counted on the loop and the worker that ran them") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const coring::runtime_metrics before = rt.metrics();
  constexpr int hops = 500;
  rt.block_on(hop_back_and_forth(rt.io(), rt.cpu(), hops));
  const coring::runtime_metrics after = rt.metrics();
  // Every hop to the worker is one run there, every hop back one run on the loop.
  CHECK(after.workers[0].tasks_run - before.workers[0].tasks_run >= hops);
  CHECK(after.loops[0].tasks_run - before.loops[0].tasks_run >= hops);
  CHECK(after.loops[0].turns > before.loops[0].turns);
}

TEST_CASE("a sleeping loop and a parked worker count the wake-ups they receive, and their wakers send") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .idle_spin = std::chrono::nanoseconds(0)}};
  std::this_thread::sleep_for(20ms);  // both asleep
  const coring::runtime_metrics before = rt.metrics();
  // The test thread wakes the loop (block_on posts to it), the loop's task wakes the worker, the
  // worker wakes the loop again on the way back: each waits 5 ms first, so the other is asleep.
  for (int i = 0; i < 20; ++i) {
    rt.block_on([](coring::executor io, coring::executor cpu) -> task<void> {
      co_await coring::on(cpu);
      std::this_thread::sleep_for(5ms);  // the loop has gone to sleep meanwhile
      co_await coring::on(io);
    }(rt.io(), rt.cpu()));
    std::this_thread::sleep_for(5ms);
  }
  const coring::runtime_metrics after = rt.metrics();
  CHECK(after.loops[0].wakeups_received > before.loops[0].wakeups_received);
  CHECK(after.workers[0].wakeups_received > before.workers[0].wakeups_received);
  CHECK(after.loops[0].wakeups_sent > before.loops[0].wakeups_sent);
  CHECK(after.workers[0].wakeups_sent > before.workers[0].wakeups_sent);
  CHECK(after.workers[0].parks > before.workers[0].parks);
  CHECK(after.loops[0].parks > before.loops[0].parks);
}

TEST_CASE("a worker's peak queue depth is the most tasks its deque held") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  constexpr int children = 500;
  rt.block_on([](coring::executor cpu) -> task<void> {
    co_await coring::on(cpu);
    std::vector<coring::join_handle<void>> handles;
    // Spawned from the worker: each goes to its own deque, and none runs before the loop ends.
    for (int i = 0; i < children; ++i) handles.push_back(coring::spawn(cpu, busy(0ns)));
    for (auto& h : handles) co_await h;
  }(rt.cpu()));
  const coring::runtime_metrics m = rt.metrics();
  CHECK(m.workers[0].peak_queue_depth >= children);
  CHECK(m.workers[0].peak_queue_depth <= children + 2);
  CHECK(m.workers[0].queue_depth == 0);
}

TEST_CASE("steals made by one worker are steals suffered by another") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  rt.block_on([](coring::executor cpu) -> task<void> {
    co_await coring::on(cpu);
    std::vector<coring::join_handle<void>> handles;
    for (int i = 0; i < 2000; ++i) handles.push_back(coring::spawn(cpu, busy(20us)));
    for (auto& h : handles) co_await h;
  }(rt.cpu()));
  const coring::runtime_metrics m = rt.metrics();
  std::uint64_t steals = 0, stolen = 0;
  for (const auto& w : m.workers) {
    steals += w.steals;
    stolen += w.stolen;
  }
  CHECK(steals > 0);  // 40 ms of work spawned on one worker: the other takes some
  CHECK(steals == stolen);
}

TEST_CASE("a loop's peak queue depth counts the tasks queued behind a long one") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::atomic<bool> holding{false}, release{false};
  auto hold = coring::spawn(rt.io(), hold_the_loop(holding, release));
  block_until([&] { return holding.load(); });
  std::vector<coring::join_handle<void>> queued;
  for (int i = 0; i < 100; ++i) queued.push_back(coring::spawn(rt.io(), busy(0ns)));
  release.store(true);
  rt.block_on(std::move(hold));
  for (auto& h : queued) rt.block_on(std::move(h));
  CHECK(rt.metrics().loops[0].peak_queue_depth >= 100);
}

TEST_CASE("scheduling delay records how long a sampled task waited behind others") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  // The loop is held while 200 tasks are queued on it (one in 64 schedule() calls is sampled) and
  // for 30 ms after: whichever was sampled waited at least that long.
  std::atomic<bool> holding{false}, release{false};
  auto hold = coring::spawn(rt.io(), hold_the_loop(holding, release));
  block_until([&] { return holding.load(); });
  std::vector<coring::join_handle<void>> handles;
  for (int i = 0; i < 200; ++i) handles.push_back(coring::spawn(rt.io(), busy(0ns)));
  std::this_thread::sleep_for(30ms);
  release.store(true);
  rt.block_on(std::move(hold));
  for (auto& h : handles) rt.block_on(std::move(h));
  const coring::latency_histogram delay = rt.metrics().loops[0].scheduling_delay;
  REQUIRE(delay.count() >= 1);
  CHECK(delay.quantile(1.0) >= 30ms);
  CHECK(delay.sum_ns >= 30'000'000u);
}

TEST_CASE("a loop thread samples one in 64 of the items it schedules, not one a turn") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  // Each yield is one schedule() by the loop's thread, one per turn.
  constexpr int yields = 1000;
  rt.block_on([]() -> task<void> {
    for (int i = 0; i < yields; ++i) co_await coring::yield();
  }());
  const std::uint64_t samples = rt.metrics().loops[0].scheduling_delay.count();
  constexpr std::uint64_t expected = yields / coring::detail::delay_probe::interval;
  CHECK(samples >= expected / 2);
  CHECK(samples <= 2 * expected + 2);  // block_on's own items may add one or two
}

TEST_CASE("loop turn duration measures a turn's work and leaves out its sleep") {
  SUBCASE("busy turns") {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    // Each turn runs one 1 ms stretch of the task: yield() queues it for the next turn.
    rt.block_on([]() -> task<void> {
      for (int i = 0; i < 160; ++i) {
        spin_for(1ms);
        co_await coring::yield();
      }
    }());
    const coring::latency_histogram turns = rt.metrics().loops[0].turn_duration;
    CHECK(turns.count() >= 5);  // one turn in 16 is timed
    CHECK(turns.quantile(0.5) >= 512us);
  }
  SUBCASE("sleeping turns") {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    rt.block_on([]() -> task<void> {
      for (int i = 0; i < 48; ++i) (void)co_await coring::sleep_for(20ms);
    }());
    const coring::latency_histogram turns = rt.metrics().loops[0].turn_duration;
    REQUIRE(turns.count() >= 2);
    CHECK(turns.quantile(0.5) < 10ms);  // counting the sleep would put them at 20 ms
  }
}

TEST_CASE("operations parked in the kernel are counted in flight on their loop") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  coring::file reader{fds[0]};
  coring::file writer{fds[1]};
  constexpr int reads = 10;
  std::vector<coring::join_handle<void>> handles;
  for (int i = 0; i < reads; ++i) {
    handles.push_back(coring::spawn(rt.io(), [](coring::file& f) -> task<void> {
      char byte;
      (void)co_await f.read_at(std::span(&byte, 1), 0);
    }(reader)));
  }
  block_until([&] { return rt.metrics().loops[0].in_flight >= reads; });
  const std::vector<char> bytes(reads, 'x');
  REQUIRE(::write(fds[1], bytes.data(), bytes.size()) == reads);
  for (auto& h : handles) rt.block_on(std::move(h));
  // The loop publishes at the end of each turn: wait for one after the reads completed.
  block_until([&] { return rt.metrics().loops[0].in_flight < reads; });
}

TEST_CASE("the blocking pool reports its threads, queued jobs and jobs run") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .blocking_threads = 1}};
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> started{0};
  auto job = [&] {
    started.fetch_add(1);
    open.wait();
  };
  auto first =
      coring::spawn(rt.io(), [](auto fn) -> task<void> { co_await coring::spawn_blocking(fn); }(job));
  block_until([&] { return started.load() == 1; });
  auto second =
      coring::spawn(rt.io(), [](auto fn) -> task<void> { co_await coring::spawn_blocking(fn); }(job));
  block_until([&] { return rt.metrics().blocking.queued_jobs == 1; });
  const coring::blocking_pool_metrics busy_pool = rt.metrics().blocking;
  CHECK(busy_pool.threads == 1);
  CHECK(busy_pool.idle_threads == 0);
  gate.set_value();
  rt.block_on(std::move(first));
  rt.block_on(std::move(second));
  block_until([&] { return rt.metrics().blocking.jobs_run == 2; });
  CHECK(rt.metrics().blocking.queued_jobs == 0);
}

TEST_CASE("latency_histogram buckets are log-linear and quantiles fall in the right bucket") {
  using h = coring::latency_histogram;
  CHECK(h::bucket_of(0) == 0);
  CHECK(h::bucket_of(63) == 0);
  CHECK(h::bucket_of(64) == 1);
  CHECK(h::bucket_of(79) == 1);
  CHECK(h::bucket_of(80) == 2);
  CHECK(h::bucket_of(127) == 4);
  CHECK(h::bucket_of(128) == 5);
  CHECK(h::bucket_of(~std::uint64_t{0}) == h::bucket_count - 1);
  for (std::size_t i = 0; i + 1 < h::bucket_count; ++i) {
    // Every bound is the first value of the next bucket.
    const auto bound = static_cast<std::uint64_t>(h::upper_bound(i).count());
    CHECK(h::bucket_of(bound - 1) == i);
    CHECK(h::bucket_of(bound) == i + 1);
  }
  h samples;
  for (std::uint64_t ns : {100u, 100u, 100u, 5000u}) {
    ++samples.counts[h::bucket_of(ns)];
    samples.sum_ns += ns;
  }
  CHECK(samples.count() == 4);
  CHECK(samples.quantile(0.5) == h::upper_bound(h::bucket_of(100)));
  CHECK(samples.quantile(1.0) == h::upper_bound(h::bucket_of(5000)));
  CHECK(samples.mean() == 1325ns);
  CHECK(h{}.quantile(0.5) == 0ns);
}
