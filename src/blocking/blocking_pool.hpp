// SPDX-License-Identifier: MIT
// blocking_pool: the elastic thread pool behind spawn_blocking(), one per runtime plus one for the
// process (for waits outside any runtime).
//
// Jobs go into one FIFO under a mutex. A job that finds more queued jobs than idle threads starts
// a thread (up to the pool's limit); a thread that waits 10 s without a job exits. Threads are
// detached and each holds a reference to the pool (shared_ptr): their last touch, after the count
// of running threads reached zero, may outlive the runtime that owned the pool.
// shutdown(): refuse new jobs, drop the queued ones (blocking_job::drop(), never run), wake idle
// threads so they exit, and wait until no thread runs a job (but the caller's own, when a job
// shuts its runtime down) or `deadline` passed: a job that never returns cannot hold shutdown
// forever; it finishes on its own thread later (the pool lives as long as its threads). Any
// thread; idempotent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include "coring/runtime_metrics.hpp"
#include "coring/spawn_blocking.hpp"

namespace coring::detail {

class blocking_pool : public std::enable_shared_from_this<blocking_pool> {
 public:
  explicit blocking_pool(std::size_t max_threads) noexcept : max_threads_(max_threads) {}
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// False (job untouched) after shutdown(). Throws std::system_error when no thread could be
  /// started and none runs (job untouched).
  bool submit(std::unique_ptr<blocking_job>& job);
  /// Returns the number of jobs still running at the deadline (0: all done).
  std::size_t shutdown(std::chrono::steady_clock::time_point deadline) noexcept;
  /// Any thread: its threads, idle threads, queued jobs and jobs run so far.
  blocking_pool_metrics metrics() noexcept;

 private:
  void run() noexcept;

  const std::size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable all_exited_;
  std::deque<std::unique_ptr<blocking_job>> jobs_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  std::uint64_t jobs_run_ = 0;
  bool shut_down_ = false;
};

}  // namespace coring::detail
