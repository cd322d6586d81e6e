// SPDX-License-Identifier: MIT
// The Asio side of coring_bench: the same workloads written with standalone Asio 1.22 and C++20
// coroutines (asio::awaitable, co_spawn, use_awaitable), the way a new Asio user would write them.
//
// Each function runs one measurement in the calling process and returns its metrics. Functions
// that report memory (timers, memory) read this process's peak / current RSS, so the caller runs
// them in a fresh child process (bench::run_in_child). Every function checks its own result
// (counts, sums, thread ids) and stops the program via bench::fail when a check fails.
#pragma once

#include <cstddef>
#include <vector>

namespace bench {

struct spawn_metrics {
  double wall_ns_per_task = 0;
  double core_ns_per_task = 0;  // process CPU time (all threads) per task
};

/// From one coroutine on an asio::thread_pool of `threads` threads, co_spawns n trivial coroutines
/// (each bumps an atomic counter) detached onto the same pool; the main thread waits on a
/// std::latch that the last one counts down.
spawn_metrics asio_spawn(std::size_t n = 1'000'000, unsigned threads = 2);

enum class skynet_join {
  /// child k+1 is co_spawned (co_spawn(ex, child, use_awaitable)) only after child k finished:
  /// the simplest thing to write, but the 10 children of a node never run in parallel.
  sequential,
  /// the 10 children are co_spawned with experimental::deferred into one
  /// experimental::make_parallel_group(...).async_wait(wait_for_all(), use_awaitable).
  parallel_group,
};

struct skynet_metrics {
  double core_ns_per_leaf = 0;  // process CPU time (utime + stime) / leaves
  double wall_ns_per_leaf = 0;
};

/// Skynet on an asio::thread_pool of `threads`: every coroutine co_spawns 10 children until
/// `leaves` leaves (a power of 10), each leaf returns its id, every node returns the sum.
skynet_metrics asio_skynet(long leaves = 1'000'000, skynet_join join = skynet_join::sequential,
                           unsigned threads = 2);

/// An io_context run by one thread (the "io pool") and an asio::thread_pool(cpu_threads) (the "cpu
/// pool"); one coroutine hops n times io -> cpu -> io with asio::post(asio::bind_executor(ex,
/// asio::use_awaitable)). Returns µs per round trip.
double asio_hop(std::size_t n = 100'000, unsigned cpu_threads = 1);

struct timers_metrics {
  double wall_ms = 0;       // first spawn until the last timer's coroutine finished
  double peak_rss_mib = 0;  // this process's peak RSS at the end
};

/// An io_context on the calling thread; one coroutine per entry of delays_ms waits that long on its
/// own asio::steady_timer. Run in a child process (peak RSS).
timers_metrics asio_timers(const std::vector<int>& delays_ms);

struct memory_metrics {
  double rss_bytes_per_task = 0;   // growth of current RSS / n, all tasks suspended
  double heap_bytes_per_task = 0;  // growth of malloc'ed bytes / n (frames + timers + queues)
  double frame_bytes = 0;          // heap per created-but-unstarted coroutine of the same function
  double teardown_ms = 0;          // destroying the n suspended coroutines
};

/// n coroutines, each suspended on its own 1-hour asio::steady_timer; RSS before spawning vs after
/// all are suspended; then io_context.stop() and its destruction destroy them. Run in a child.
memory_metrics asio_memory(std::size_t n = 1'000'000);

/// Ping-pong over two asio::experimental::concurrent_channel<void(asio::error_code, int)> of
/// capacity 1 (experimental::channel is not thread-safe, see asio_peers.cpp):
/// a coroutine on an io_context run by one thread sends i over channel A to a coroutine on an
/// asio::thread_pool(1), which sends it back over channel B. Each channel is constructed on the
/// executor of the side that receives from it (A on the pool's, B on the io_context's); both sides
/// are co_spawned on their own executor and use asio::use_awaitable. Returns µs per round trip.
double asio_channel_ping_pong(std::size_t round_trips = 100'000);

/// One producer coroutine on an io_context thread sends the ints 0..n-1 through one channel of
/// `capacity` (constructed on the pool's executor) to one consumer on an asio::thread_pool(1),
/// which checks their sum. Returns wall ns per item.
double asio_channel_throughput(std::size_t n = 1'000'000, std::size_t capacity = 1024);

/// What the mutex benchmarks' critical section updates (coring's and Asio's alike): the count, and
/// how often the lock went to a different task than the one that held it last, which shows how much
/// the tasks really interleaved (3 would mean they ran one after another).
struct guarded_count {
  long counter = 0;
  int last_owner = -1;
  long owner_changes = 0;

  void bump(int task) noexcept {
    ++counter;
    if (task != last_owner) {
      last_owner = task;
      ++owner_changes;
    }
  }
};

struct contended_metrics {
  double wall_ns_per_lock = 0;  // wall / (4 * per_task)
  double owner_changes = 0;     // guarded_count::owner_changes at the end
};

/// The strand idiom for a critical section: "lock" is
/// `co_await asio::post(asio::bind_executor(strand, asio::use_awaitable))`, the critical section
/// (++counter) runs on the strand, "unlock" is `co_await asio::post(asio::bind_executor(home,
/// asio::use_awaitable))` back to the coroutine's own executor. The strand wraps the thread_pool's
/// executor. The critical section is guarded_count::bump.
///
/// Uncontended: one coroutine on an asio::thread_pool(1) does n lock/unlock pairs. Returns ns per
/// pair.
double asio_strand_uncontended(std::size_t n = 1'000'000);

/// Contended: 4 coroutines, 2 on an io_context run by one thread and 2 on an asio::thread_pool(2),
/// each does per_task lock/++counter/unlock through one strand over the pool; the final counter is
/// checked.
contended_metrics asio_strand_contended(std::size_t per_task = 100'000);

}  // namespace bench
