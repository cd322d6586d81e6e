// SPDX-License-Identifier: MIT
// The CPU pool: N worker threads with work stealing.
//
// Each worker owns a Chase-Lev deque; work scheduled from a worker goes to its own deque, work from
// elsewhere goes to the injection queue. A worker looks at its deque, the injection queue (first,
// every 61st task, so it cannot starve), then steals from the others.
//
// Idle protocol (no lost wake-ups, no busy waiting once idle):
//  1. A worker that finds nothing in its deque or the injection queue tries one steal; if that
//     finds nothing too, it becomes a *searcher* (at most half the workers search at once) and
//     spins for `spin_budget` trying to steal.
//  2. It then stops searching, registers itself as idle (num_idle_, seq_cst), re-checks every queue
//     and parks only if they are all empty.
//  3. Whoever queues work then loads num_idle_ (seq_cst, after its push) and wakes one idle worker
//     unless a searcher exists. A woken worker starts as a searcher; a searcher that finds work and
//     was the last searcher wakes another, so parallelism ramps up with the work.
// Steps 2 and 3 form a Dekker pair: either the pusher sees the idle worker, or the worker's re-check
// sees the pushed work.
//
// Shutdown: stop() sets stopping_, unparks everyone and joins. Items still queued are abandoned (their
// tasks are destroyed through the task registry, not from here).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "coring/detail/scheduler.hpp"
#include "coring/runtime_metrics.hpp"
#include "observe/thread_counters.hpp"
#include "park/adaptive_spin.hpp"
#include "park/parker.hpp"
#include "scheduler/injection_queue.hpp"
#include "scheduler/work_stealing_deque.hpp"

namespace coring::detail {

class cpu_pool final : public scheduler {
 public:
  /// `loops`: where its tasks' I/O goes (the runtime's io loops; none: a CPU-only runtime).
  cpu_pool(task_registry* registry, std::vector<event_loop_impl*> loops, unsigned threads,
           std::chrono::nanoseconds spin_budget, bool spin_yields = false);
  ~cpu_pool();
  cpu_pool(const cpu_pool&) = delete;
  cpu_pool& operator=(const cpu_pool&) = delete;

  void schedule(work_item* item) noexcept override;
  void schedule_later(work_item* item) noexcept override;
  bool owns_current_thread() const noexcept override;
  bool may_run_forks_inline() const noexcept override;
  event_loop_impl* io_loop() noexcept override;

  void stop() noexcept;
  /// After stop(): moves every item still queued into `out`, and closes the pool: from then on
  /// schedule() keeps only never-started task cells (for shutdown to destroy) and drops the rest
  /// (resumptions of tasks that shutdown destroys anyway, e.g. woken by a destructor).
  void collect_abandoned(std::vector<work_item*>& out) noexcept;

  unsigned size() const noexcept { return static_cast<unsigned>(workers_.size()); }
  std::uint64_t steals() const noexcept;
  std::uint64_t queue_depth() const noexcept;
  std::uint64_t parks() const noexcept;
  std::uint64_t injected_depth() const noexcept { return injected_.size(); }
  const thread_watch& watch(unsigned index) const noexcept { return workers_[index]->watch; }
  /// Any thread: worker `index`'s counters and scheduling delay (tasks_run from its watch).
  worker_metrics metrics(unsigned index) const noexcept;

 private:
  struct alignas(64) worker {
    work_stealing_deque deque;
    parker park;
    std::atomic<std::uint64_t> steals{0};  // written by the owner only
    std::atomic<std::uint64_t> parks{0};   // written by the owner only
    std::atomic<std::uint64_t> stolen{0};  // items thieves took: written by them
    std::atomic<std::uint64_t> woken{0};   // unparks for work: written under idle_mutex_
    thread_counters counters;
    std::uint32_t tick = 0;
    std::uint32_t rng = 0;
    bool searching = false;
    adaptive_spin spin{std::chrono::nanoseconds::zero()};
    thread_watch watch;
    std::thread thread;
  };

  void run_worker(unsigned index) noexcept;
  work_item* find_local(worker& self) noexcept;
  work_item* find_remote(worker& self, unsigned index) noexcept;
  work_item* take_injected(worker& self) noexcept;
  bool try_begin_search(worker& self) noexcept;
  void end_search(worker& self) noexcept;  // found work
  bool any_work() const noexcept;
  void park(worker& self, unsigned index) noexcept;
  void notify_one() noexcept;
  void push_local(worker& self, work_item* item) noexcept;

  std::vector<event_loop_impl*> loops_;
  std::atomic<std::uint32_t> next_loop_{0};  // I/O started from other threads: round-robin
  std::vector<std::unique_ptr<worker>> workers_;
  injection_queue injected_;
  alignas(64) std::atomic<std::uint32_t> searching_{0};
  alignas(64) std::atomic<std::uint32_t> num_idle_{0};
  std::mutex idle_mutex_;
  std::vector<unsigned> idle_;  // guarded by idle_mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  alignas(64) delay_probe probe_;
};

}  // namespace coring::detail
