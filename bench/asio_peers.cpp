// Asio 1.22 versions of the coring_bench workloads; see asio_peers.hpp.
#include "asio_peers.hpp"

#include <algorithm>
#include <asio.hpp>
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

double asio_hop(std::size_t n) {
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  asio::thread_pool cpu(1);

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

}  // namespace bench
