// SPDX-License-Identifier: MIT
// The seam between tasks and the threads that run them.
//
// A work_item is an intrusive node that lives inside whatever is being scheduled (an awaiter in a
// suspended coroutine frame, a spawned task's cell, an I/O operation), so queuing never allocates.
// An item is in at most one queue at a time; `run` is called exactly once per scheduling.
//
// A scheduler is a pool or an event loop. schedule() may be called from any thread. Each runtime
// thread records the scheduler it belongs to in `current_scheduler()`: that is the "home" a task
// returns to after it waited for something (the affinity rule).
#pragma once

#include <atomic>
#include <coroutine>

#include "coring/detail/await_trace.hpp"

namespace coring::detail {

struct work_item {
  work_item* next = nullptr;
  void (*run)(work_item*) noexcept = nullptr;
};

/// A work_item that resumes one coroutine.
struct resume_item : work_item {
  std::coroutine_handle<> handle;

  resume_item() noexcept { run = &resume_item::resume; }
  static void resume(work_item* w) noexcept { static_cast<resume_item*>(w)->handle.resume(); }
};

class event_loop_impl;
class task_registry;
struct thread_counters;

class scheduler {
 public:
  /// Queue `item` to run on one of this scheduler's threads. Any thread; never blocks.
  virtual void schedule(work_item* item) noexcept = 0;
  /// Like schedule(), but behind the work already queued here (used by yield()).
  virtual void schedule_later(work_item* item) noexcept = 0;
  /// True when the calling thread runs tasks for this scheduler.
  virtual bool owns_current_thread() const noexcept = 0;
  /// The event loop that performs I/O for tasks running here (null only for the CPU pool of a
  /// runtime without io pool: I/O there completes with ENOTSUP).
  virtual event_loop_impl* io_loop() noexcept = 0;
  /// True when a child forked by a task running on the calling thread may simply run here, now:
  /// other threads of this scheduler already have queued work of this thread to take (when_all
  /// then pays no queue operation and no atomic per child; see fork_group.hpp).
  virtual bool may_run_forks_inline() const noexcept { return false; }

  task_registry* registry() const noexcept { return registry_; }

  /// Why work given to this scheduler can never run: `accepting`, or the runtime shut down, or
  /// this process is a fork() child of the one whose threads ran it. Read by spawn and on().
  enum class refusal : unsigned char { accepting, shut_down, forked };
  refusal refuses() const noexcept { return refusal_.load(std::memory_order_acquire); }
  void refuse(refusal why) noexcept { refusal_.store(why, std::memory_order_release); }

 protected:
  explicit scheduler(task_registry* registry) noexcept : registry_(registry) {}
  ~scheduler() = default;

 private:
  task_registry* registry_;
  std::atomic<refusal> refusal_{refusal::accepting};
};

struct thread_context {
  scheduler* current = nullptr;         // where a task that waits here resumes (a CPU pool or a loop)
  scheduler* pool = nullptr;            // the pool this thread belongs to (an io pool, CPU pool or loop)
  event_loop_impl* loop = nullptr;      // set on event loop threads while run() is active
  unsigned worker_index = 0;            // index within a CPU pool
  unsigned coop_budget = 0;             // see coop_spend()
  unsigned probe_countdown = 0;         // schedule() calls until this thread samples one (delay_probe)
  thread_counters* counters = nullptr;  // this thread's, while it runs tasks for a runtime's pool
};

inline thread_context& this_thread() noexcept {
  thread_local thread_context context;
  return context;
}

inline scheduler* current_scheduler() noexcept {
  return this_thread().current;
}

/// How many operations one run of a task may complete without suspending (Tokio's coop budget).
inline constexpr unsigned coop_budget_per_run = 128;

/// Brackets each run of a task by a scheduler (a queued item, a resumption after I/O): refills
/// the coop budget and shows the stall detector that a run is in progress (await_trace.hpp).
class run_scope {
 public:
  explicit run_scope(thread_context& ctx) noexcept : watch_(current_watch()) {
    ctx.coop_budget = coop_budget_per_run;
    if (watch_ != nullptr) watch_->begin();
  }
  ~run_scope() {
    if (watch_ != nullptr) watch_->end();
  }
  run_scope(const run_scope&) = delete;
  run_scope& operator=(const run_scope&) = delete;

 private:
  thread_watch* watch_;
};

/// Called by an awaitable that could complete without suspending: false once this run of the
/// task has spent its budget; the awaitable then suspends and the task is queued behind the work
/// already waiting, so a task whose operations are always ready cannot hold its thread. Threads
/// that never run a scheduler (a task driven by hand) start with no budget but are never asked
/// to yield: their awaitables have no home to requeue on.
inline bool coop_spend() noexcept {
  thread_context& ctx = this_thread();
  if (ctx.coop_budget == 0) return ctx.current == nullptr;
  --ctx.coop_budget;
  return true;
}

/// Resumes `item` on `home`: directly when the caller already runs there (returns the handle for
/// symmetric transfer), else by queueing it there (returns noop).
inline std::coroutine_handle<> resume_on(scheduler* home, resume_item& item) noexcept {
  if (home == nullptr || home == current_scheduler()) return item.handle;
  home->schedule(&item);
  return std::noop_coroutine();
}

}  // namespace coring::detail
