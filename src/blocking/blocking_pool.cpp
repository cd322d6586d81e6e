// SPDX-License-Identifier: MIT
// The process-wide elastic pool behind spawn_blocking().
//
// Jobs go into one FIFO under a mutex. A job that finds more queued jobs than idle threads starts
// a thread (up to blocking_pool_limit); a thread that waits 10 s without a job exits. Threads are detached:
// the pool lives until the process ends (a function-local static that is never destroyed, so jobs still
// running during static destruction do not touch a dead pool). A fork() child gets a fresh pool.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <system_error>
#include <thread>

#include "coring/spawn_blocking.hpp"
#include "signal/thread_signals.hpp"

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
      const coring_thread_mask_scope mask;  // born with coring's signal mask (thread_signals.hpp)
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

// A fork() child has none of the pool's threads, but would inherit its counts (and perhaps a
// mutex locked by a thread that does not exist there): it starts with a pool of its own. The old
// one is leaked, jobs and all: they belong to the parent's tasks.
std::atomic<blocking_pool*> instance{nullptr};
std::atomic<bool> fork_handler_set{false};

void on_fork_child() noexcept {
  instance.store(nullptr, std::memory_order_relaxed);  // the child has one thread: this one
}

blocking_pool& pool() {
  blocking_pool* current = instance.load(std::memory_order_acquire);
  if (current != nullptr) return *current;
  if (!fork_handler_set.exchange(true)) ::pthread_atfork(nullptr, nullptr, &on_fork_child);
  auto* made = new blocking_pool;  // never destroyed, see above
  if (instance.compare_exchange_strong(current, made, std::memory_order_acq_rel)) return *made;
  delete made;  // another thread made it first
  return *current;
}

}  // namespace

void run_blocking(std::function<void()> job) {
  pool().submit(std::move(job));
}

}  // namespace coring::detail
