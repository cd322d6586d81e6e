// SPDX-License-Identifier: MIT
// The blocking pools behind spawn_blocking() (blocking_pool.hpp), and how a job finds its pool:
// the calling thread's scheduler's registry names its runtime's pool; without one, the
// process-wide pool is used. That one is never destroyed (jobs still running during static
// destruction do not touch a dead pool) and a fork() child gets a fresh one.
#include "blocking/blocking_pool.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <system_error>
#include <thread>

#include "signal/thread_signals.hpp"
#include "task/task_registry.hpp"

namespace coring::detail {

bool blocking_pool::submit(std::unique_ptr<blocking_job>& job) {
  std::unique_lock lock(mutex_);
  if (shut_down_) return false;
  blocking_job* const queued = job.get();
  jobs_.push_back(std::move(job));
  // Idle threads already woken but not yet running still count in idle_, and the jobs queued
  // before this one are theirs: start a thread whenever jobs outnumber idle threads.
  if (jobs_.size() <= idle_) {
    work_ready_.notify_one();
    return true;
  }
  if (threads_ >= max_threads_) return true;  // queued for the next free thread
  ++threads_;
  lock.unlock();
  try {
    const coring_thread_mask_scope mask;  // born with coring's signal mask (thread_signals.hpp)
    std::thread([self = shared_from_this()] { self->run(); }).detach();
  } catch (...) {
    lock.lock();
    --threads_;
    if (threads_ == 0) {
      // Nobody runs jobs, so nobody took it: give it back.
      for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
        if (it->get() == queued) {
          job = std::move(*it);
          jobs_.erase(it);
          break;
        }
      }
      all_exited_.notify_all();
      throw;
    }
  }
  return true;
}

namespace {
// The pool whose job the calling thread runs: a job that shuts its own runtime down must not
// wait for itself.
thread_local const blocking_pool* running_pool = nullptr;
}  // namespace

void blocking_pool::run() noexcept {
  running_pool = this;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (jobs_.empty()) {
      if (shut_down_) break;
      ++idle_;
      const bool woke =
          work_ready_.wait_for(lock, std::chrono::seconds(10), [&] { return !jobs_.empty() || shut_down_; });
      --idle_;
      if (!woke) break;
    }
    if (jobs_.empty()) break;
    std::unique_ptr<blocking_job> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job->run();
    job.reset();  // what the job owns is freed before shutdown() can return
    lock.lock();
    ++jobs_run_;
  }
  // The last touch of the pool is this unlock (and the caller's reference, dropped after it).
  if (--threads_ == 0) all_exited_.notify_all();
}

blocking_pool_metrics blocking_pool::metrics() noexcept {
  const std::lock_guard lock(mutex_);
  return {threads_, idle_, jobs_.size(), jobs_run_};
}

std::size_t blocking_pool::shutdown(std::chrono::steady_clock::time_point deadline) noexcept {
  std::deque<std::unique_ptr<blocking_job>> dropped;
  std::unique_lock lock(mutex_);
  shut_down_ = true;
  dropped.swap(jobs_);
  work_ready_.notify_all();
  lock.unlock();
  for (auto& job : dropped) job->drop();  // outside the lock: drop() wakes tasks
  dropped.clear();
  lock.lock();
  // A job that shuts down its own runtime waits for every other job; it is the one that still
  // runs after shutdown returns.
  const std::size_t self = running_pool == this ? 1 : 0;
  all_exited_.wait_until(lock, deadline, [&] { return threads_ == self; });
  return threads_ - self;
}

namespace {

// A fork() child has none of the pool's threads, but would inherit its counts (and perhaps a
// mutex locked by a thread that does not exist there): it starts with a pool of its own. The old
// one is leaked, jobs and all: they belong to the parent's tasks.
std::atomic<std::shared_ptr<blocking_pool>*> instance{nullptr};
std::atomic<bool> fork_handler_set{false};

void on_fork_child() noexcept {
  instance.store(nullptr, std::memory_order_relaxed);  // the child has one thread: this one
}

blocking_pool& process_pool() {
  std::shared_ptr<blocking_pool>* current = instance.load(std::memory_order_acquire);
  if (current != nullptr) return **current;
  if (!fork_handler_set.exchange(true)) ::pthread_atfork(nullptr, nullptr, &on_fork_child);
  // never destroyed, see above
  auto* made = new std::shared_ptr<blocking_pool>(std::make_shared<blocking_pool>(blocking_pool_limit));
  if (instance.compare_exchange_strong(current, made, std::memory_order_acq_rel)) return **made;
  delete made;  // another thread made it first
  return **current;
}

}  // namespace

bool run_blocking(std::unique_ptr<blocking_job>& job) {
  const scheduler* home = current_scheduler();
  task_registry* registry = home != nullptr ? home->registry() : nullptr;
  blocking_pool* pool = registry != nullptr ? registry->blocking() : nullptr;
  return (pool != nullptr ? *pool : process_pool()).submit(job);
}

}  // namespace coring::detail
