// SPDX-License-Identifier: MIT
// coring_bench: coring next to Asio on the same workloads, printed as one markdown table.
//
// Benchmarks (each run by coring and by Asio, the Asio side lives in asio_peers.cpp):
//   spawn   1,000,000 trivial tasks spawned from one task onto a 2-thread CPU pool; ns per task
//   skynet  every task spawns 10 children down to 10^6 leaves (--skynet-leaves); CPU ns per leaf
//   hop     one task hops io pool -> CPU pool -> io pool 100,000 times; µs per round trip
//   timers  100,000 tasks sleep 1..100 ms (fixed seed) on one io thread; wall ms, peak RSS MiB
//   memory  1,000,000 tasks suspended in a 1-hour sleep; RSS and heap bytes per task
//   idle    (coring only) CPU use of an idle runtime, settled and right after hop traffic
//   channel ping-pong io pool <-> CPU pool over two capacity-1 channels, 100,000 round trips (µs
//           per round trip); 1,000,000 ints io pool -> CPU pool through capacity 1024 (ns per item)
//   mutex   1,000,000 uncontended lock/unlock pairs (ns per pair); 4 tasks (2 io, 2 CPU) each
//           100,000 lock/++counter/unlock (ns per lock). Asio: a strand used as the mutex
//
// Every repetition of every benchmark runs in a fresh child process (bench::run_in_child): peak
// RSS is per process, and a fresh process keeps runs independent. The parent never starts a
// thread, so forking stays safe (see harness.hpp).
//
// Flags: --reps=N (5)  --only=spawn,skynet,hop,timers,memory,idle,channel,mutex  --impl=coring|asio|both
//        --skynet-leaves=N (10^6, a power of 10)  --quick (smaller n, 1 rep: a smoke run)
//
// Building with -DCORING_BENCH_ASIO_ONLY leaves the coring half out (and with it the need for the
// library), so the Asio half and the harness can be built and run on their own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <latch>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "asio_peers.hpp"
#include "harness.hpp"

#ifndef CORING_BENCH_ASIO_ONLY
#include <array>
#include <atomic>
#include <coring/coring.hpp>
#endif

namespace {

struct config {
  int reps = 5;
  bool quick = false;
  bool run_coring = true;
  bool run_asio = true;
  std::set<std::string> only;  // empty: all
  std::size_t spawn_n = 1'000'000;
  long skynet_leaves = 1'000'000;
  std::size_t hop_n = 100'000;
  std::size_t timers_n = 100'000;
  std::size_t memory_n = 1'000'000;
  double idle_window_s = 1.0;
  std::size_t idle_burst_hops = 20'000;
  std::size_t channel_round_trips = 100'000;
  std::size_t channel_items = 1'000'000;
  std::size_t channel_capacity = 1024;
  std::size_t mutex_n = 1'000'000;
  std::size_t mutex_per_task = 100'000;

  bool wants(const std::string& name) const { return only.empty() || only.count(name) != 0; }
};

const char* const all_benchmarks[] = {"spawn", "skynet",  "hop",   "timers",        "memory",
                                      "idle",  "channel", "mutex", "oversubscribed"};

std::string count_label(double n) {
  char buf[32];
  if (n >= 1e6 && static_cast<long long>(n) % 1'000'000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldM", static_cast<long long>(n / 1e6));
  } else if (n >= 1e3 && static_cast<long long>(n) % 1'000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldk", static_cast<long long>(n / 1e3));
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The coring side

#ifndef CORING_BENCH_ASIO_ONLY

coring::runtime_options options(unsigned io_threads, unsigned cpu_threads) {
  return coring::runtime_options{.io_threads = io_threads, .cpu_threads = cpu_threads, .ring_entries = 256};
}

// spawn --------------------------------------------------------------------------------------

coring::task<void> bump(std::atomic<std::size_t>& finished, std::size_t n, std::latch& all_done) {
  if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == n) all_done.count_down();
  co_return;
}

enum class spawn_style { detached, handle_dropped };

coring::task<void> spawn_many(coring::executor cpu, std::size_t n, std::atomic<std::size_t>& finished,
                              std::latch& all_done, spawn_style style) {
  co_await coring::on(cpu);
  if (style == spawn_style::detached) {
    for (std::size_t i = 0; i < n; ++i) coring::spawn_detached(cpu, bump(finished, n, all_done));
  } else {
    for (std::size_t i = 0; i < n; ++i) coring::spawn(cpu, bump(finished, n, all_done)).detach();
  }
}

bench::spawn_metrics coring_spawn(std::size_t n, spawn_style style, unsigned cpu_threads = 2) {
  std::atomic<std::size_t> finished{0};
  std::latch all_done(1);
  coring::runtime rt{options(1, cpu_threads)};

  const double cpu0 = bench::process_cpu_ns();
  bench::stopwatch clock;
  rt.block_on(spawn_many(rt.cpu(), n, finished, all_done, style));
  all_done.wait();
  const double wall = clock.elapsed_ns();
  const double cpu = bench::process_cpu_ns() - cpu0;

  rt.shutdown();
  bench::check(finished.load() == n, "coring_spawn: not every task ran");
  return {wall / static_cast<double>(n), cpu / static_cast<double>(n)};
}

// skynet -------------------------------------------------------------------------------------

// Starts all 10 children, then joins them in order.
coring::task<long> skynet(coring::executor ex, long id, long size) {
  if (size == 1) co_return id;
  const long child_size = size / 10;
  std::array<coring::join_handle<long>, 10> children;
  for (long i = 0; i < 10; ++i) children[i] = coring::spawn(ex, skynet(ex, id + i * child_size, child_size));
  long sum = 0;
  for (auto& child : children) sum += co_await child;
  co_return sum;
}

// Forks all 10 children with when_all (no task_cell per child; see detail/fork_group.hpp).
coring::task<long> skynet_fork(long id, long size) {
  if (size == 1) co_return id;
  const long c = size / 10;
  auto [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9] = co_await coring::when_all(
      skynet_fork(id, c), skynet_fork(id + c, c), skynet_fork(id + 2 * c, c), skynet_fork(id + 3 * c, c),
      skynet_fork(id + 4 * c, c), skynet_fork(id + 5 * c, c), skynet_fork(id + 6 * c, c),
      skynet_fork(id + 7 * c, c), skynet_fork(id + 8 * c, c), skynet_fork(id + 9 * c, c));
  co_return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
}

// Like Asio's sequential variant: child k+1 is spawned only after child k finished.
coring::task<long> skynet_one_by_one(coring::executor ex, long id, long size) {
  if (size == 1) co_return id;
  const long child_size = size / 10;
  long sum = 0;
  for (long i = 0; i < 10; ++i)
    sum += co_await coring::spawn(ex, skynet_one_by_one(ex, id + i * child_size, child_size));
  co_return sum;
}

enum class skynet_style { fork, spawn_then_join, one_by_one };

coring::task<long> skynet_root(coring::executor cpu, long leaves, skynet_style style) {
  co_await coring::on(cpu);
  switch (style) {
    case skynet_style::fork:
      co_return co_await skynet_fork(0, leaves);
    case skynet_style::one_by_one:
      co_return co_await skynet_one_by_one(cpu, 0, leaves);
    case skynet_style::spawn_then_join:
      break;
  }
  co_return co_await skynet(cpu, 0, leaves);
}

struct coring_skynet_metrics {
  bench::skynet_metrics m;
  double steals = 0;
};

coring_skynet_metrics coring_skynet(long leaves, skynet_style style) {
  coring::runtime rt{options(1, 2)};
  const double cpu0 = bench::process_cpu_ns();
  bench::stopwatch clock;
  const long sum = rt.block_on(skynet_root(rt.cpu(), leaves, style));
  const double wall = clock.elapsed_ns();
  const double cpu = bench::process_cpu_ns() - cpu0;
  const double steals = static_cast<double>(rt.metrics().steals);
  rt.shutdown();
  bench::check(sum == leaves * (leaves - 1) / 2, "coring_skynet: wrong sum " + std::to_string(sum));
  return {{cpu / static_cast<double>(leaves), wall / static_cast<double>(leaves)}, steals};
}

// hop ----------------------------------------------------------------------------------------

coring::task<double> hop_loop(coring::executor io, coring::executor cpu, std::size_t n) {
  const std::thread::id io_thread = std::this_thread::get_id();
  bench::check(io.running_in_this_thread(), "coring_hop: block_on did not start on the io pool");
  bench::stopwatch clock;
  for (std::size_t i = 0; i < n; ++i) {
    co_await coring::on(cpu);
    if (i == 0) {
      bench::check(std::this_thread::get_id() != io_thread && cpu.running_in_this_thread(),
                   "coring_hop: the hop to the cpu pool stayed on the io thread");
    }
    co_await coring::on(io);
    if (i == 0) {
      bench::check(std::this_thread::get_id() == io_thread,
                   "coring_hop: the hop back did not reach the io thread");
    }
  }
  const double ns = clock.elapsed_ns();
  co_return ns;
}

// 1 io thread + 1 CPU worker, like Asio's io_context thread + thread_pool(1).
double coring_hop(std::size_t n, unsigned cpu_threads = 1) {
  coring::runtime rt{options(1, cpu_threads)};
  const double ns = rt.block_on(hop_loop(rt.io(), rt.cpu(), n));
  rt.shutdown();
  return ns / 1e3 / static_cast<double>(n);
}

// timers -------------------------------------------------------------------------------------

coring::task<void> sleeper(int ms) {
  const coring::result<void> r = co_await coring::sleep_for(std::chrono::milliseconds(ms));
  if (!r) bench::fail("coring_timers: sleep_for failed: " + r.error().message());
}

coring::task<void> spawn_timers(coring::executor io, const std::vector<int>& delays_ms) {
  std::vector<coring::join_handle<void>> handles;
  handles.reserve(delays_ms.size());
  for (int ms : delays_ms) handles.push_back(coring::spawn(io, sleeper(ms)));
  for (auto& h : handles) co_await h;
}

bench::timers_metrics coring_timers(const std::vector<int>& delays_ms) {
  coring::runtime rt{options(1, 1)};
  bench::stopwatch clock;
  rt.block_on(spawn_timers(rt.io(), delays_ms));
  const double wall = clock.elapsed_ms();
  rt.shutdown();
  return {wall, bench::peak_rss_bytes() / bench::mib};
}

// memory -------------------------------------------------------------------------------------

coring::task<void> sleep_an_hour(std::atomic<std::size_t>& suspended) {
  suspended.fetch_add(1, std::memory_order_relaxed);
  const coring::result<void> r = co_await coring::sleep_for(std::chrono::hours(1));
  (void)r;  // not reached: shutdown destroys the task while it sleeps
}

bench::memory_metrics coring_memory(std::size_t n) {
  std::atomic<std::size_t> suspended{0};
  bench::memory_metrics m;
  coring::runtime rt{options(1, 1)};

  const double rss0 = bench::current_rss_bytes();
  const double heap0 = bench::heap_in_use_bytes();
  for (std::size_t i = 0; i < n; ++i) coring::spawn(rt.io(), sleep_an_hour(suspended)).detach();
  while (suspended.load(std::memory_order_relaxed) < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The last task counted itself just before it suspended; let the io loop file its timer.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double heap1 = bench::heap_in_use_bytes();
  const double rss1 = bench::current_rss_bytes();
  m.rss_bytes_per_task = (rss1 - rss0) / static_cast<double>(n);
  m.heap_bytes_per_task = (heap1 - heap0) / static_cast<double>(n);

  // Frame estimate: heap per created but never started task of the same function (lazy tasks
  // own their frame and do nothing until awaited or spawned).
  {
    const std::size_t probes = std::min<std::size_t>(n, 100'000);
    std::vector<coring::task<void>> unstarted;
    unstarted.reserve(probes);
    const double before = bench::heap_in_use_bytes();
    for (std::size_t i = 0; i < probes; ++i) unstarted.push_back(sleep_an_hour(suspended));
    m.frame_bytes = (bench::heap_in_use_bytes() - before) / static_cast<double>(probes);
  }

  bench::stopwatch teardown;
  rt.shutdown();  // destroys the n sleeping tasks
  m.teardown_ms = teardown.elapsed_ms();
  return m;
}

// idle ---------------------------------------------------------------------------------------

// Share of one core the whole process used while the calling thread slept for `window_s`.
double cpu_share_percent(double window_s) {
  const double cpu0 = bench::process_cpu_ns();
  bench::stopwatch clock;
  std::this_thread::sleep_for(std::chrono::duration<double>(window_s));
  return (bench::process_cpu_ns() - cpu0) / clock.elapsed_ns() * 100.0;
}

std::vector<double> coring_idle(double window_s, std::size_t burst_hops) {
  coring::runtime rt{options(1, 2)};
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the threads settle
  const double settled = cpu_share_percent(window_s);
  (void)rt.block_on(hop_loop(rt.io(), rt.cpu(), burst_hops));
  const double after_burst = cpu_share_percent(window_s);
  rt.shutdown();
  return {settled, after_burst};
}

// channel ------------------------------------------------------------------------------------

// Where each side ran, recorded once; the run fails unless the two differ.
struct side_threads {
  std::thread::id io;
  std::thread::id cpu;
};

void check_two_threads(const side_threads& seen, const char* what) {
  bench::check(seen.io != std::thread::id{} && seen.cpu != std::thread::id{} && seen.io != seen.cpu,
               std::string(what) + ": both sides ran on the same thread");
}

coring::task<void> ping(coring::channel<int>& to_cpu, coring::channel<int>& to_io, std::size_t n,
                        coring::executor io, side_threads& seen) {
  for (std::size_t i = 0; i < n; ++i) {
    const coring::result<void> sent = co_await to_cpu.send(static_cast<int>(i));
    if (!sent) bench::fail("coring_channel_ping_pong: send failed: " + sent.error().message());
    const coring::result<int> back = co_await to_io.receive();
    if (!back || *back != static_cast<int>(i)) bench::fail("coring_channel_ping_pong: wrong item back");
    if (i == 0) {
      bench::check(io.running_in_this_thread(), "coring_channel_ping_pong: the io side left the io pool");
      seen.io = std::this_thread::get_id();
    }
  }
}

coring::task<void> pong(coring::channel<int>& to_cpu, coring::channel<int>& to_io, std::size_t n,
                        coring::executor cpu, side_threads& seen) {
  for (std::size_t i = 0; i < n; ++i) {
    const coring::result<int> item = co_await to_cpu.receive();
    if (!item) bench::fail("coring_channel_ping_pong: receive failed: " + item.error().message());
    if (i == 0) {
      bench::check(cpu.running_in_this_thread(), "coring_channel_ping_pong: the cpu side left the cpu pool");
      seen.cpu = std::this_thread::get_id();
    }
    const coring::result<void> sent = co_await to_io.send(*item);
    if (!sent) bench::fail("coring_channel_ping_pong: send back failed: " + sent.error().message());
  }
}

coring::task<void> ping_pong_root(coring::executor io, coring::executor cpu, coring::channel<int>& to_cpu,
                                  coring::channel<int>& to_io, std::size_t n, side_threads& seen) {
  coring::join_handle<void> cpu_side = coring::spawn(cpu, pong(to_cpu, to_io, n, cpu, seen));
  coring::join_handle<void> io_side = coring::spawn(io, ping(to_cpu, to_io, n, io, seen));
  co_await io_side;
  co_await cpu_side;
}

// 1 io thread + 1 CPU worker, like Asio's io_context thread + thread_pool(1). µs per round trip.
double coring_channel_ping_pong(std::size_t n) {
  coring::runtime rt{options(1, 1)};
  coring::channel<int> to_cpu(1);
  coring::channel<int> to_io(1);
  side_threads seen;
  bench::stopwatch clock;
  rt.block_on(ping_pong_root(rt.io(), rt.cpu(), to_cpu, to_io, n, seen));
  const double ns = clock.elapsed_ns();
  rt.shutdown();
  check_two_threads(seen, "coring_channel_ping_pong");
  return ns / 1e3 / static_cast<double>(n);
}

coring::task<void> produce(coring::channel<int>& ch, std::size_t n, coring::executor io, side_threads& seen) {
  bench::check(io.running_in_this_thread(), "coring_channel_throughput: the producer is not on the io pool");
  seen.io = std::this_thread::get_id();
  for (std::size_t i = 0; i < n; ++i) {
    const coring::result<void> sent = co_await ch.send(static_cast<int>(i));
    if (!sent) bench::fail("coring_channel_throughput: send failed: " + sent.error().message());
  }
}

coring::task<long long> consume(coring::channel<int>& ch, std::size_t n, coring::executor cpu,
                                side_threads& seen) {
  long long sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const coring::result<int> item = co_await ch.receive();
    if (!item) bench::fail("coring_channel_throughput: receive failed: " + item.error().message());
    sum += *item;
    if (i == 0) {
      bench::check(cpu.running_in_this_thread(), "coring_channel_throughput: the consumer left the cpu pool");
      seen.cpu = std::this_thread::get_id();
    }
  }
  co_return sum;
}

coring::task<long long> throughput_root(coring::executor io, coring::executor cpu, coring::channel<int>& ch,
                                        std::size_t n, side_threads& seen) {
  coring::join_handle<long long> consumer = coring::spawn(cpu, consume(ch, n, cpu, seen));
  coring::join_handle<void> producer = coring::spawn(io, produce(ch, n, io, seen));
  co_await producer;
  co_return co_await consumer;
}

// One producer on the io pool, one consumer on the CPU pool. Wall ns per item.
double coring_channel_throughput(std::size_t n, std::size_t capacity) {
  coring::runtime rt{options(1, 1)};
  coring::channel<int> ch(capacity);
  side_threads seen;
  bench::stopwatch clock;
  const long long sum = rt.block_on(throughput_root(rt.io(), rt.cpu(), ch, n, seen));
  const double ns = clock.elapsed_ns();
  rt.shutdown();
  const long long expected = static_cast<long long>(n) * (static_cast<long long>(n) - 1) / 2;
  bench::check(sum == expected, "coring_channel_throughput: wrong sum " + std::to_string(sum));
  check_two_threads(seen, "coring_channel_throughput");
  return ns / static_cast<double>(n);
}

// mutex --------------------------------------------------------------------------------------

coring::task<void> lock_loop(coring::async_mutex& m, std::size_t n, bench::guarded_count& shared, int task) {
  for (std::size_t i = 0; i < n; ++i) {
    co_await m.lock();
    shared.bump(task);
    m.unlock();
  }
}

// One task on the CPU pool, nobody else touches the mutex; the loop times itself. ns per pair.
coring::task<double> uncontended_root(coring::executor cpu, coring::async_mutex& m, std::size_t n,
                                      bench::guarded_count& shared) {
  co_await coring::on(cpu);
  bench::stopwatch clock;
  co_await lock_loop(m, n, shared, 0);
  co_return clock.elapsed_ns();
}

double coring_mutex_uncontended(std::size_t n) {
  coring::runtime rt{options(1, 1)};
  coring::async_mutex m;
  bench::guarded_count shared;
  const double ns = rt.block_on(uncontended_root(rt.cpu(), m, n, shared));
  rt.shutdown();
  bench::check(shared.counter == static_cast<long>(n),
               "coring_mutex_uncontended: wrong count " + std::to_string(shared.counter));
  return ns / static_cast<double>(n);
}

coring::task<void> contended_root(coring::executor io, coring::executor cpu, coring::async_mutex& m,
                                  std::size_t per_task, bench::guarded_count& shared) {
  std::array<coring::join_handle<void>, 4> tasks = {coring::spawn(io, lock_loop(m, per_task, shared, 0)),
                                                    coring::spawn(io, lock_loop(m, per_task, shared, 1)),
                                                    coring::spawn(cpu, lock_loop(m, per_task, shared, 2)),
                                                    coring::spawn(cpu, lock_loop(m, per_task, shared, 3))};
  for (auto& t : tasks) co_await t;
}

// 2 tasks on the io pool and 2 on a 2-worker CPU pool share one mutex.
bench::contended_metrics coring_mutex_contended(std::size_t per_task) {
  coring::runtime rt{options(1, 2)};
  coring::async_mutex m;
  bench::guarded_count shared;  // only touched with m held
  bench::stopwatch clock;
  rt.block_on(contended_root(rt.io(), rt.cpu(), m, per_task, shared));
  const double ns = clock.elapsed_ns();
  rt.shutdown();
  const long expected = 4 * static_cast<long>(per_task);
  bench::check(shared.counter == expected, "coring_mutex_contended: counter " +
                                               std::to_string(shared.counter) + ", expected " +
                                               std::to_string(expected));
  return {ns / static_cast<double>(expected), static_cast<double>(shared.owner_changes)};
}

#endif  // CORING_BENCH_ASIO_ONLY

// ---------------------------------------------------------------------------------------------
// Running and reporting

struct row_spec {
  std::string metric;
  std::string target;  // empty: none
};

class runner {
 public:
  explicit runner(const config& cfg) : cfg_(cfg) {}

  /// Runs fn cfg.reps times, each in a fresh child, and adds one row per metric it returns.
  void measure(const std::string& benchmark, const std::string& impl, const std::vector<row_spec>& rows,
               const std::function<std::vector<double>()>& fn, unsigned timeout_s = 600) {
    std::fprintf(stderr, "running %s / %s (%d reps)...\n", benchmark.c_str(), impl.c_str(), cfg_.reps);
    try {
      const auto summaries =
          bench::repeat(cfg_.reps, [&] { return bench::run_in_child([&] { return fn(); }, timeout_s); });
      if (summaries.size() != rows.size()) throw bench::child_failed("metric count does not match the rows");
      for (std::size_t i = 0; i < rows.size(); ++i)
        out_.add(benchmark, impl, rows[i].metric, summaries[i], rows[i].target);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  %s / %s failed: %s\n", benchmark.c_str(), impl.c_str(), e.what());
      for (const auto& row : rows) out_.add_failed(benchmark, impl, row.metric, e.what());
      ++failures_;
    }
  }

  void print() const { out_.print(); }
  int failures() const { return failures_; }

 private:
  const config& cfg_;
  bench::table out_;
  int failures_ = 0;
};

void run_spawn(const config& cfg, runner& r) {
  const std::string name = "spawn " + count_label(static_cast<double>(cfg.spawn_n)) + ", 2 threads";
  const std::size_t n = cfg.spawn_n;
  const std::vector<row_spec> rows = {{"ns/task (wall)", "≤ 50"}, {"ns/task (CPU)", ""}};
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(name, "coring (spawn_detached)", rows, [n] {
      const auto m = coring_spawn(n, spawn_style::detached);
      return std::vector<double>{m.wall_ns_per_task, m.core_ns_per_task};
    });
    r.measure(name, "coring (spawn, then detach)", rows, [n] {
      const auto m = coring_spawn(n, spawn_style::handle_dropped);
      return std::vector<double>{m.wall_ns_per_task, m.core_ns_per_task};
    });
  }
#endif
  if (cfg.run_asio) {
    r.measure(name, "asio", {{rows[0].metric, ""}, {rows[1].metric, ""}}, [n] {
      const auto m = bench::asio_spawn(n, 2);
      return std::vector<double>{m.wall_ns_per_task, m.core_ns_per_task};
    });
  }
}

void run_skynet(const config& cfg, runner& r) {
  const std::string name =
      "skynet " + count_label(static_cast<double>(cfg.skynet_leaves)) + " leaves, 2 threads";
  const long leaves = cfg.skynet_leaves;
  const unsigned timeout = leaves > 1'000'000 ? 1800 : 600;
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(
        name, "coring (when_all of 10)", {{"CPU ns/leaf", "≤ 20"}, {"wall ns/leaf", ""}, {"steals/run", ""}},
        [leaves] {
          const auto m = coring_skynet(leaves, skynet_style::fork);
          return std::vector<double>{m.m.core_ns_per_leaf, m.m.wall_ns_per_leaf, m.steals};
        },
        timeout);
    r.measure(
        name, "coring (spawn 10, then join)", {{"CPU ns/leaf", ""}, {"wall ns/leaf", ""}, {"steals/run", ""}},
        [leaves] {
          const auto m = coring_skynet(leaves, skynet_style::spawn_then_join);
          return std::vector<double>{m.m.core_ns_per_leaf, m.m.wall_ns_per_leaf, m.steals};
        },
        timeout);
    r.measure(
        name, "coring (one child at a time)", {{"CPU ns/leaf", ""}, {"wall ns/leaf", ""}},
        [leaves] {
          const auto m = coring_skynet(leaves, skynet_style::one_by_one);
          return std::vector<double>{m.m.core_ns_per_leaf, m.m.wall_ns_per_leaf};
        },
        timeout);
  }
#endif
  if (cfg.run_asio) {
    r.measure(
        name, "asio (parallel_group of 10)", {{"CPU ns/leaf", ""}, {"wall ns/leaf", ""}},
        [leaves] {
          const auto m = bench::asio_skynet(leaves, bench::skynet_join::parallel_group, 2);
          return std::vector<double>{m.core_ns_per_leaf, m.wall_ns_per_leaf};
        },
        timeout);
    r.measure(
        name, "asio (one child at a time)", {{"CPU ns/leaf", ""}, {"wall ns/leaf", ""}},
        [leaves] {
          const auto m = bench::asio_skynet(leaves, bench::skynet_join::sequential, 2);
          return std::vector<double>{m.core_ns_per_leaf, m.wall_ns_per_leaf};
        },
        timeout);
  }
}

// Every runtime thread and every Asio thread confined to `cpus` CPUs (sched_setaffinity in the
// child before any thread starts; threads inherit it), as under `taskset` or a container quota.
void run_oversubscribed(const config& cfg, runner& r) {
  struct shape {
    unsigned cpus;
    unsigned workers;
  };
  for (const shape s : {shape{1, 1}, shape{1, 2}, shape{2, 4}}) {
    const std::string where = std::to_string(s.workers) + (s.workers == 1 ? " CPU worker" : " CPU workers") +
                              " + 1 io thread on " + std::to_string(s.cpus) +
                              (s.cpus == 1 ? " CPU" : " CPUs");
    const std::size_t hops = cfg.hop_n / 10;
    const std::string hop_name = "hop ×" + count_label(static_cast<double>(hops)) + ", " + where;
    const std::string spawn_name = "spawn " + count_label(static_cast<double>(cfg.spawn_n)) + ", " + where;
    const std::size_t n = cfg.spawn_n;
#ifndef CORING_BENCH_ASIO_ONLY
    if (cfg.run_coring) {
      r.measure(hop_name, "coring", {{"µs/round trip", "≤ 1.0x asio"}}, [s, hops] {
        bench::confine_to_cpus(s.cpus);
        return std::vector<double>{coring_hop(hops, s.workers)};
      });
    }
#endif
    if (cfg.run_asio) {
      r.measure(hop_name, "asio", {{"µs/round trip", ""}}, [s, hops] {
        bench::confine_to_cpus(s.cpus);
        return std::vector<double>{bench::asio_hop(hops, s.workers)};
      });
    }
    if (s.workers == 1) continue;  // spawning needs a second worker to spawn onto
#ifndef CORING_BENCH_ASIO_ONLY
    if (cfg.run_coring) {
      r.measure(spawn_name, "coring (spawn_detached)",
                {{"ns/task (wall)", "≤ 1.0x asio"}, {"ns/task (CPU)", ""}}, [s, n] {
                  bench::confine_to_cpus(s.cpus);
                  const auto m = coring_spawn(n, spawn_style::detached, s.workers);
                  return std::vector<double>{m.wall_ns_per_task, m.core_ns_per_task};
                });
    }
#endif
    if (cfg.run_asio) {
      r.measure(spawn_name, "asio", {{"ns/task (wall)", ""}, {"ns/task (CPU)", ""}}, [s, n] {
        bench::confine_to_cpus(s.cpus);
        const auto m = bench::asio_spawn(n, s.workers);
        return std::vector<double>{m.wall_ns_per_task, m.core_ns_per_task};
      });
    }
  }
}

void run_hop(const config& cfg, runner& r) {
  const std::string name = "hop io→cpu→io ×" + count_label(static_cast<double>(cfg.hop_n));
  const std::size_t n = cfg.hop_n;
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(name, "coring", {{"µs/round trip", "≤ 3"}}, [n] { return std::vector<double>{coring_hop(n)}; });
  }
#endif
  if (cfg.run_asio) {
    r.measure(name, "asio", {{"µs/round trip", ""}}, [n] { return std::vector<double>{bench::asio_hop(n)}; });
  }
}

void run_timers(const config& cfg, runner& r) {
  const std::string name = "timers " + count_label(static_cast<double>(cfg.timers_n)) + " × 1..100 ms";
  const std::size_t n = cfg.timers_n;
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(name, "coring", {{"wall ms", "≤ 150"}, {"peak RSS MiB", "≤ 50"}}, [n] {
      const auto m = coring_timers(bench::timer_delays_ms(n));
      return std::vector<double>{m.wall_ms, m.peak_rss_mib};
    });
  }
#endif
  if (cfg.run_asio) {
    r.measure(name, "asio", {{"wall ms", ""}, {"peak RSS MiB", ""}}, [n] {
      const auto m = bench::asio_timers(bench::timer_delays_ms(n));
      return std::vector<double>{m.wall_ms, m.peak_rss_mib};
    });
  }
}

void run_memory(const config& cfg, runner& r) {
  const std::string name = "memory " + count_label(static_cast<double>(cfg.memory_n)) + " sleeping tasks";
  const std::size_t n = cfg.memory_n;
  const auto pack = [](const bench::memory_metrics& m) {
    return std::vector<double>{m.rss_bytes_per_task, m.rss_bytes_per_task - m.frame_bytes,
                               m.heap_bytes_per_task, m.frame_bytes, m.teardown_ms};
  };
  const auto rows = [](const std::string& beyond_target) {
    return std::vector<row_spec>{{"RSS B/task", ""},
                                 {"RSS B/task beyond frame", beyond_target},
                                 {"heap B/task", ""},
                                 {"frame B (est.)", ""},
                                 {"teardown ms", ""}};
  };
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) r.measure(name, "coring", rows("≤ 200"), [n, pack] { return pack(coring_memory(n)); });
#endif
  if (cfg.run_asio) r.measure(name, "asio", rows(""), [n, pack] { return pack(bench::asio_memory(n)); });
}

void run_idle(const config& cfg, runner& r) {
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    const double window = cfg.idle_window_s;
    const std::size_t hops = cfg.idle_burst_hops;
    r.measure("idle, 1 io + 2 cpu threads", "coring",
              {{"% of a core, settled", "< 0.5"}, {"% of a core, after hops", "< 0.5"}},
              [window, hops] { return coring_idle(window, hops); });
  }
#else
  (void)cfg;
  (void)r;
#endif
}

void run_channel(const config& cfg, runner& r) {
  const std::size_t trips = cfg.channel_round_trips;
  const std::size_t items = cfg.channel_items;
  const std::size_t capacity = cfg.channel_capacity;
  const std::string ping_pong =
      "channel ping-pong io↔cpu ×" + count_label(static_cast<double>(trips)) + ", capacity 1";
  const std::string stream = "channel io→cpu " + count_label(static_cast<double>(items)) +
                             " ints, capacity " + count_label(static_cast<double>(capacity));
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(ping_pong, "coring", {{"µs/round trip", "≥ 2× Asio"}},
              [trips] { return std::vector<double>{coring_channel_ping_pong(trips)}; });
    r.measure(stream, "coring", {{"ns/item (wall)", "≥ 2× Asio"}},
              [items, capacity] { return std::vector<double>{coring_channel_throughput(items, capacity)}; });
  }
#endif
  if (cfg.run_asio) {
    r.measure(ping_pong, "asio", {{"µs/round trip", ""}},
              [trips] { return std::vector<double>{bench::asio_channel_ping_pong(trips)}; });
    r.measure(stream, "asio", {{"ns/item (wall)", ""}}, [items, capacity] {
      return std::vector<double>{bench::asio_channel_throughput(items, capacity)};
    });
  }
}

void run_mutex(const config& cfg, runner& r) {
  const std::size_t n = cfg.mutex_n;
  const std::size_t per_task = cfg.mutex_per_task;
  const std::string uncontended = "mutex uncontended ×" + count_label(static_cast<double>(n));
  const std::string contended = "mutex contended 4 tasks ×" + count_label(static_cast<double>(per_task));
  const auto pack = [](const bench::contended_metrics& m) {
    return std::vector<double>{m.wall_ns_per_lock, m.owner_changes};
  };
  const std::vector<row_spec> contended_rows = {{"ns/lock (wall)", ""}, {"owner changes/run", ""}};
#ifndef CORING_BENCH_ASIO_ONLY
  if (cfg.run_coring) {
    r.measure(uncontended, "coring (async_mutex)", {{"ns/lock+unlock", ""}},
              [n] { return std::vector<double>{coring_mutex_uncontended(n)}; });
    r.measure(contended, "coring (async_mutex)", contended_rows,
              [per_task, pack] { return pack(coring_mutex_contended(per_task)); });
  }
#endif
  if (cfg.run_asio) {
    r.measure(uncontended, "asio (strand, post in/out)", {{"ns/lock+unlock", ""}},
              [n] { return std::vector<double>{bench::asio_strand_uncontended(n)}; });
    r.measure(contended, "asio (strand, post in/out)", contended_rows,
              [per_task, pack] { return pack(bench::asio_strand_contended(per_task)); });
  }
}

config parse(int argc, char** argv) {
  bench::flag_set flags(argc, argv);
  config cfg;
  cfg.quick = flags.get_bool("quick");
  if (cfg.quick) {
    cfg.spawn_n = 100'000;
    cfg.skynet_leaves = 100'000;
    cfg.hop_n = 10'000;
    cfg.timers_n = 10'000;
    cfg.memory_n = 100'000;
    cfg.idle_window_s = 0.25;
    cfg.idle_burst_hops = 2'000;
    cfg.channel_round_trips = 10'000;
    cfg.channel_items = 100'000;
    cfg.mutex_n = 100'000;
    cfg.mutex_per_task = 10'000;
  }
  cfg.reps = static_cast<int>(flags.get_int("reps", cfg.quick ? 1 : 5));
  cfg.skynet_leaves = flags.get_int("skynet-leaves", cfg.skynet_leaves);
  for (const auto& name : flags.get_list("only")) {
    if (std::find(std::begin(all_benchmarks), std::end(all_benchmarks), name) == std::end(all_benchmarks)) {
      throw std::invalid_argument("--only: unknown benchmark " + name);
    }
    cfg.only.insert(name);
  }
#ifdef CORING_BENCH_ASIO_ONLY
  const std::string impl = flags.get("impl", "asio");
  if (impl != "asio") throw std::invalid_argument("built with CORING_BENCH_ASIO_ONLY: only --impl=asio");
#else
  const std::string impl = flags.get("impl", "both");
#endif
  if (impl != "both" && impl != "coring" && impl != "asio")
    throw std::invalid_argument("--impl: coring, asio or both");
  cfg.run_coring = impl != "asio";
  cfg.run_asio = impl != "coring";
  for (const auto& bad : flags.unknown()) throw std::invalid_argument("unknown flag --" + bad);

  if (cfg.reps <= 0) throw std::invalid_argument("--reps must be positive");
  long p = 1;
  while (p < cfg.skynet_leaves) p *= 10;
  if (p != cfg.skynet_leaves || cfg.skynet_leaves < 10)
    throw std::invalid_argument("--skynet-leaves must be a power of 10 (≥ 10)");
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  try {
    cfg = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "coring_bench: %s\n"
                 "usage: coring_bench [--reps=5] [--only=spawn,skynet,hop,timers,memory,idle,channel,mutex]\n"
                 "                    [--impl=both|coring|asio] [--skynet-leaves=1000000] [--quick]\n",
                 e.what());
    return 2;
  }

  // Everything below forks per run; this process itself must stay single-threaded.
  runner r(cfg);
  if (cfg.wants("spawn")) run_spawn(cfg, r);
  if (cfg.wants("skynet")) run_skynet(cfg, r);
  if (cfg.wants("hop")) run_hop(cfg, r);
  if (cfg.wants("oversubscribed")) run_oversubscribed(cfg, r);
  if (cfg.wants("timers")) run_timers(cfg, r);
  if (cfg.wants("memory")) run_memory(cfg, r);
  if (cfg.wants("idle")) run_idle(cfg, r);
  if (cfg.wants("channel")) run_channel(cfg, r);
  if (cfg.wants("mutex")) run_mutex(cfg, r);

  std::printf("\n%d run(s) per row, each in a fresh process; %ld CPUs online\n\n", cfg.reps,
              ::sysconf(_SC_NPROCESSORS_ONLN));
  r.print();
  return r.failures() == 0 ? 0 : 1;
}
