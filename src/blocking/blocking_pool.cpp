// SPDX-License-Identifier: MIT
// The process-wide elastic pool behind spawn_blocking().
//
// Jobs go into one FIFO under a mutex. A job that finds more queued jobs than idle threads starts
// a thread (up to blocking_pool_limit); a thread that waits 10 s without a job exits. Threads are detached:
// the pool lives until the process ends (a function-local static that is never destroyed, so jobs still
// running during static destruction do not touch a dead pool).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <system_error>
#include <thread>

#include "coring/spawn_blocking.hpp"

namespace coring::detail {

namespace {

class blocking_pool {
 public:
  void submit(std::function<void()> job) {
    std::unique_lock lock(mutex_);
    jobs_.push_back(std::move(job));
    // Idle threads already woken but not yet running still count in idle_, and the jobs queued
    // before this one are theirs: start a thread whenever jobs outnumber idle threads.
    if (jobs_.size() <= idle_) {
      work_ready_.notify_one();
      return;
    }
    if (threads_ >= blocking_pool_limit) return;  // queued for the next free thread
    ++threads_;
    lock.unlock();
    try {
      std::thread([this] { run(); }).detach();
    } catch (...) {
      lock.lock();
      --threads_;
      if (threads_ == 0) {
        jobs_.pop_back();
        throw;
      }
    }
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      while (jobs_.empty()) {
        ++idle_;
        const bool woke =
            work_ready_.wait_for(lock, std::chrono::seconds(10), [&] { return !jobs_.empty(); });
        --idle_;
        if (!woke) {
          --threads_;
          return;
        }
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();  // never throws: spawn_blocking's job catches everything
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<std::function<void()>> jobs_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
};

blocking_pool& pool() {
  static blocking_pool* const instance = new blocking_pool;  // never destroyed, see above
  return *instance;
}

}  // namespace

void run_blocking(std::function<void()> job) {
  pool().submit(std::move(job));
}

}  // namespace coring::detail
