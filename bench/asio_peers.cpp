// SPDX-License-Identifier: MIT
// Asio 1.22 versions of the coring_bench workloads; see asio_peers.hpp.
#include "asio_peers.hpp"

#include <algorithm>
#include <asio.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "harness.hpp"

namespace bench {

// ---------------------------------------------------------------------------------------------
// spawn

namespace {

asio::awaitable<void> bump(std::atomic<std::size_t>& finished, std::size_t n, std::latch& all_done) {
  if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == n) all_done.count_down();
  co_return;
}

asio::awaitable<void> spawn_many(std::size_t n, std::atomic<std::size_t>& finished, std::latch& all_done) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < n; ++i) asio::co_spawn(ex, bump(finished, n, all_done), asio::detached);
}

}  // namespace

spawn_metrics asio_spawn(std::size_t n, unsigned threads) {
  asio::thread_pool pool(threads);
  std::atomic<std::size_t> finished{0};
  std::latch all_done(1);

  const double cpu0 = process_cpu_ns();
  stopwatch clock;
  asio::co_spawn(pool, spawn_many(n, finished, all_done), asio::detached);
  all_done.wait();
  const double wall = clock.elapsed_ns();
  const double cpu = process_cpu_ns() - cpu0;

  pool.join();
  check(finished.load() == n, "asio_spawn: not every task ran");
  return {wall / static_cast<double>(n), cpu / static_cast<double>(n)};
}

// ---------------------------------------------------------------------------------------------
// skynet

namespace {

asio::awaitable<long> skynet_sequential(long id, long size) {
  if (size == 1) co_return id;
  auto ex = co_await asio::this_coro::executor;
  const long child_size = size / 10;
  long sum = 0;
  for (long i = 0; i < 10; ++i) {
    sum +=
        co_await asio::co_spawn(ex, skynet_sequential(id + i * child_size, child_size), asio::use_awaitable);
  }
  co_return sum;
}

asio::awaitable<long> skynet_parallel(long id, long size);

template <std::size_t... I>
asio::awaitable<long> skynet_parallel_children(long id, long child_size, std::index_sequence<I...>) {
  auto ex = co_await asio::this_coro::executor;
  // Completes with (completion order, exception_ptr e0, long r0, exception_ptr e1, long r1, ...).
  auto results = co_await asio::experimental::make_parallel_group(
                     asio::co_spawn(ex, skynet_parallel(id + static_cast<long>(I) * child_size, child_size),
                                    asio::experimental::deferred)...)
                     .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (
      [&] {
        if (std::get<1 + 2 * I>(results)) std::rethrow_exception(std::get<1 + 2 * I>(results));
      }(),
      ...);
  co_return (std::get<2 + 2 * I>(results) + ...);
}

asio::awaitable<long> skynet_parallel(long id, long size) {
  if (size == 1) co_return id;
  co_return co_await skynet_parallel_children(id, size / 10, std::make_index_sequence<10>{});
}

}  // namespace

skynet_metrics asio_skynet(long leaves, skynet_join join, unsigned threads) {
  long size = 1;
  while (size < leaves) size *= 10;
  check(size == leaves, "asio_skynet: leaves must be a power of 10");

  asio::thread_pool pool(threads);
  const double cpu0 = process_cpu_ns();
  stopwatch clock;
  std::future<long> result = join == skynet_join::sequential
                                 ? asio::co_spawn(pool, skynet_sequential(0, leaves), asio::use_future)
                                 : asio::co_spawn(pool, skynet_parallel(0, leaves), asio::use_future);
  const long sum = result.get();
  const double wall = clock.elapsed_ns();
  const double cpu = process_cpu_ns() - cpu0;
  pool.join();

  check(sum == leaves * (leaves - 1) / 2, "asio_skynet: wrong sum " + std::to_string(sum));
  return {cpu / static_cast<double>(leaves), wall / static_cast<double>(leaves)};
}

// ---------------------------------------------------------------------------------------------
// hop

namespace {

template <class IoExecutor, class CpuExecutor>
asio::awaitable<double> hop_loop(std::size_t n, IoExecutor io_ex, CpuExecutor cpu_ex) {
  const std::thread::id io_thread = std::this_thread::get_id();
  stopwatch clock;
  for (std::size_t i = 0; i < n; ++i) {
    co_await asio::post(asio::bind_executor(cpu_ex, asio::use_awaitable));
    if (i == 0)
      check(std::this_thread::get_id() != io_thread,
            "asio_hop: the hop to the cpu pool stayed on the io thread");
    co_await asio::post(asio::bind_executor(io_ex, asio::use_awaitable));
    if (i == 0)
      check(std::this_thread::get_id() == io_thread, "asio_hop: the hop back did not reach the io thread");
  }
  const double ns = clock.elapsed_ns();
  check(std::this_thread::get_id() == io_thread, "asio_hop: did not end on the io thread");
  co_return ns;
}

}  // namespace

double asio_hop(std::size_t n, unsigned cpu_threads) {
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  asio::thread_pool cpu(cpu_threads);

  std::future<double> elapsed =
      asio::co_spawn(io, hop_loop(n, io.get_executor(), cpu.get_executor()), asio::use_future);
  const double ns = elapsed.get();

  keep_running.reset();
  io_thread.join();
  cpu.join();
  return ns / 1e3 / static_cast<double>(n);
}

// ---------------------------------------------------------------------------------------------
// timers

namespace {

asio::awaitable<void> wait_for(int ms, std::size_t& finished) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::use_awaitable);
  ++finished;
}

asio::awaitable<void> spawn_timers(const std::vector<int>& delays_ms, std::size_t& finished) {
  auto ex = co_await asio::this_coro::executor;
  for (int ms : delays_ms) asio::co_spawn(ex, wait_for(ms, finished), asio::detached);
}

}  // namespace

timers_metrics asio_timers(const std::vector<int>& delays_ms) {
  asio::io_context io;
  std::size_t finished = 0;  // only touched by the thread running io

  stopwatch clock;
  asio::co_spawn(io, spawn_timers(delays_ms, finished), asio::detached);
  io.run();  // returns once every coroutine finished
  const double wall = clock.elapsed_ms();

  check(finished == delays_ms.size(), "asio_timers: not every timer fired");
  return {wall, peak_rss_bytes() / mib};
}

// ---------------------------------------------------------------------------------------------
// memory

namespace {

asio::awaitable<void> sleep_an_hour(std::size_t& suspended, std::size_t& woke) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(1));
  ++suspended;
  co_await timer.async_wait(asio::use_awaitable);
  ++woke;
}

}  // namespace

memory_metrics asio_memory(std::size_t n) {
  std::size_t suspended = 0;
  std::size_t woke = 0;
  memory_metrics m;
  std::optional<asio::io_context> io(std::in_place);

  const double rss0 = current_rss_bytes();
  const double heap0 = heap_in_use_bytes();
  for (std::size_t i = 0; i < n; ++i) asio::co_spawn(*io, sleep_an_hour(suspended, woke), asio::detached);
  io->poll();  // runs every coroutine up to its timer wait; the timers are an hour away
  const double heap1 = heap_in_use_bytes();
  const double rss1 = current_rss_bytes();
  check(suspended == n, "asio_memory: not every coroutine reached its timer");

  m.rss_bytes_per_task = (rss1 - rss0) / static_cast<double>(n);
  m.heap_bytes_per_task = (heap1 - heap0) / static_cast<double>(n);

  // Frame estimate: the heap taken by coroutines of the same function that were created but never
  // started (an awaitable owns its frame until it is co_spawned).
  {
    const std::size_t probes = std::min<std::size_t>(n, 100'000);
    std::vector<asio::awaitable<void>> unstarted;
    unstarted.reserve(probes);
    const double before = heap_in_use_bytes();
    for (std::size_t i = 0; i < probes; ++i) unstarted.push_back(sleep_an_hour(suspended, woke));
    m.frame_bytes = (heap_in_use_bytes() - before) / static_cast<double>(probes);
  }

  // Cancel them all: stop the io_context and destroy it, which destroys the pending timer
  // operations and, with them, the suspended coroutine frames.
  stopwatch teardown;
  io->stop();
  io.reset();
  m.teardown_ms = teardown.elapsed_ms();
  check(woke == 0, "asio_memory: a coroutine woke up");
  return m;
}

// ---------------------------------------------------------------------------------------------
// channel

namespace {

// concurrent_channel, not channel: asio::experimental::channel guards its state with a null_mutex
// (one thread or one strand only), and used from the io thread and the pool at once it corrupts
// itself (segfaults seen here in the throughput run). concurrent_channel is the same class with a
// real mutex.
using int_channel = asio::experimental::concurrent_channel<void(asio::error_code, int)>;

// Where each side ran, recorded on the first round trip after its first receive.
struct side_threads {
  std::thread::id io;
  std::thread::id cpu;
};

template <class IoExecutor>
asio::awaitable<void> ping(int_channel& to_cpu, int_channel& to_io, std::size_t n, IoExecutor io_ex,
                           side_threads& seen) {
  for (std::size_t i = 0; i < n; ++i) {
    co_await to_cpu.async_send(asio::error_code{}, static_cast<int>(i), asio::use_awaitable);
    const int back = co_await to_io.async_receive(asio::use_awaitable);
    if (back != static_cast<int>(i)) fail("asio_channel_ping_pong: got " + std::to_string(back) + " back");
    if (i == 0) {
      check(io_ex.running_in_this_thread(), "asio_channel_ping_pong: the io side left the io thread");
      seen.io = std::this_thread::get_id();
    }
  }
}

template <class CpuExecutor>
asio::awaitable<void> pong(int_channel& to_cpu, int_channel& to_io, std::size_t n, CpuExecutor cpu_ex,
                           side_threads& seen) {
  for (std::size_t i = 0; i < n; ++i) {
    const int v = co_await to_cpu.async_receive(asio::use_awaitable);
    if (i == 0) {
      check(cpu_ex.running_in_this_thread(), "asio_channel_ping_pong: the cpu side left the pool");
      seen.cpu = std::this_thread::get_id();
    }
    co_await to_io.async_send(asio::error_code{}, v, asio::use_awaitable);
  }
}

template <class IoExecutor>
asio::awaitable<void> produce(int_channel& ch, std::size_t n, IoExecutor io_ex, side_threads& seen) {
  check(io_ex.running_in_this_thread(), "asio_channel_throughput: the producer is not on the io thread");
  seen.io = std::this_thread::get_id();
  for (std::size_t i = 0; i < n; ++i)
    co_await ch.async_send(asio::error_code{}, static_cast<int>(i), asio::use_awaitable);
}

template <class CpuExecutor>
asio::awaitable<long long> consume(int_channel& ch, std::size_t n, CpuExecutor cpu_ex, side_threads& seen) {
  long long sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += co_await ch.async_receive(asio::use_awaitable);
    if (i == 0) {
      check(cpu_ex.running_in_this_thread(), "asio_channel_throughput: the consumer left the pool");
      seen.cpu = std::this_thread::get_id();
    }
  }
  co_return sum;
}

}  // namespace

double asio_channel_ping_pong(std::size_t round_trips) {
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  asio::thread_pool cpu(1);
  side_threads seen;
  double ns = 0;
  {
    // Each channel lives on the executor of the side that receives from it.
    int_channel to_cpu(cpu.get_executor(), 1);
    int_channel to_io(io.get_executor(), 1);

    stopwatch clock;
    std::future<void> cpu_done =
        asio::co_spawn(cpu, pong(to_cpu, to_io, round_trips, cpu.get_executor(), seen), asio::use_future);
    std::future<void> io_done =
        asio::co_spawn(io, ping(to_cpu, to_io, round_trips, io.get_executor(), seen), asio::use_future);
    io_done.get();
    cpu_done.get();
    ns = clock.elapsed_ns();
  }

  keep_running.reset();
  io_thread.join();
  cpu.join();
  check(seen.io != std::thread::id{} && seen.cpu != std::thread::id{} && seen.io != seen.cpu,
        "asio_channel_ping_pong: both sides ran on the same thread");
  return ns / 1e3 / static_cast<double>(round_trips);
}

double asio_channel_throughput(std::size_t n, std::size_t capacity) {
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  asio::thread_pool cpu(1);
  side_threads seen;
  double ns = 0;
  long long sum = 0;
  {
    int_channel ch(cpu.get_executor(), capacity);  // on the receiver's executor

    stopwatch clock;
    std::future<long long> consumed =
        asio::co_spawn(cpu, consume(ch, n, cpu.get_executor(), seen), asio::use_future);
    std::future<void> produced =
        asio::co_spawn(io, produce(ch, n, io.get_executor(), seen), asio::use_future);
    produced.get();
    sum = consumed.get();
    ns = clock.elapsed_ns();
  }

  keep_running.reset();
  io_thread.join();
  cpu.join();
  const long long expected = static_cast<long long>(n) * (static_cast<long long>(n) - 1) / 2;
  check(sum == expected, "asio_channel_throughput: wrong sum " + std::to_string(sum));
  check(seen.io != std::thread::id{} && seen.cpu != std::thread::id{} && seen.io != seen.cpu,
        "asio_channel_throughput: producer and consumer ran on the same thread");
  return ns / static_cast<double>(n);
}

// ---------------------------------------------------------------------------------------------
// strand as a mutex

namespace {

template <class Strand, class HomeExecutor>
asio::awaitable<void> strand_locker(Strand strand, HomeExecutor home, std::size_t n, guarded_count& shared,
                                    int task) {
  for (std::size_t i = 0; i < n; ++i) {
    co_await asio::post(asio::bind_executor(strand, asio::use_awaitable));  // "lock"
    shared.bump(task);
    co_await asio::post(asio::bind_executor(home, asio::use_awaitable));  // "unlock"
  }
}

// The uncontended loop times itself (no thread wake-up at either end).
template <class Strand, class HomeExecutor>
asio::awaitable<double> timed_strand_locker(Strand strand, HomeExecutor home, std::size_t n,
                                            guarded_count& shared) {
  stopwatch clock;
  co_await strand_locker(strand, home, n, shared, 0);
  co_return clock.elapsed_ns();
}

}  // namespace

double asio_strand_uncontended(std::size_t n) {
  asio::thread_pool pool(1);
  auto strand = asio::make_strand(pool);
  guarded_count shared;

  std::future<double> elapsed =
      asio::co_spawn(pool, timed_strand_locker(strand, pool.get_executor(), n, shared), asio::use_future);
  const double ns = elapsed.get();

  pool.join();
  check(shared.counter == static_cast<long>(n),
        "asio_strand_uncontended: wrong count " + std::to_string(shared.counter));
  return ns / static_cast<double>(n);
}

contended_metrics asio_strand_contended(std::size_t per_task) {
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  asio::thread_pool pool(2);
  auto strand = asio::make_strand(pool);
  guarded_count shared;  // only touched on the strand

  stopwatch clock;
  std::future<void> done[4] = {
      asio::co_spawn(io, strand_locker(strand, io.get_executor(), per_task, shared, 0), asio::use_future),
      asio::co_spawn(io, strand_locker(strand, io.get_executor(), per_task, shared, 1), asio::use_future),
      asio::co_spawn(pool, strand_locker(strand, pool.get_executor(), per_task, shared, 2), asio::use_future),
      asio::co_spawn(pool, strand_locker(strand, pool.get_executor(), per_task, shared, 3), asio::use_future),
  };
  for (auto& f : done) f.get();
  const double ns = clock.elapsed_ns();

  keep_running.reset();
  io_thread.join();
  pool.join();
  const long expected = 4 * static_cast<long>(per_task);
  check(shared.counter == expected, "asio_strand_contended: counter " + std::to_string(shared.counter) +
                                        ", expected " + std::to_string(expected));
  return {ns / static_cast<double>(expected), static_cast<double>(shared.owner_changes)};
}

}  // namespace bench
