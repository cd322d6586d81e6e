// SPDX-License-Identifier: MIT
// The io pool: `threads` event loops, each driven by its own thread for the pool's lifetime.
//
// Work scheduled on the pool from one of its loop threads stays on that loop; work from elsewhere
// is spread round-robin. balanced() is the pool's second face (runtime::io_balanced()): it places
// every item on the loop with the least load() (queued + in the kernel + timers at its last turn,
// plus what was placed on it since), ties broken round-robin by a per-thread counter: no lock and
// no shared counter, one relaxed fetch_add on the chosen loop's placement count. Each loop's ring is created
// by the pool's constructor and enabled by the loop's thread (single issuer); the constructor returns once
// every loop runs, or throws the error of the first loop that could not start.
//
// Shutdown (stop()): 1. every loop is asked to stop; 2. each loop thread leaves its last turn,
// cancels every ring op in flight and reaps until the kernel holds none or the deadline passed
// (drain); 3. threads are joined. Tasks are not destroyed here (see runtime).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "coring/detail/scheduler.hpp"
#include "io/event_loop_impl.hpp"

namespace coring::detail {

class io_pool final : public scheduler {
 public:
  io_pool(task_registry* registry, unsigned threads, const loop_config& config);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  void schedule(work_item* item) noexcept override { pick_loop()->schedule(item); }
  void schedule_later(work_item* item) noexcept override { pick_loop()->schedule_later(item); }
  bool owns_current_thread() const noexcept override { return this_thread().pool == this; }
  event_loop_impl* io_loop() noexcept override { return pick_loop(); }

  /// The balanced face of the pool: schedule() picks the least loaded loop, whoever calls it.
  scheduler* balanced() noexcept { return &balancer_; }
  /// The loop with the least load(), round-robin among equals; counts the placement on it.
  event_loop_impl* least_loaded_loop() noexcept;

  /// The calling thread's loop when it is one of ours, else the next loop round-robin.
  event_loop_impl* pick_loop() noexcept;
  /// Its loops, for the CPU pool's I/O.
  std::vector<event_loop_impl*> loop_pointers() const {
    std::vector<event_loop_impl*> all;
    for (const auto& loop : loops_) all.push_back(loop.get());
    return all;
  }
  /// Stops the loops and joins their threads; each drains its ring until `drain_deadline`.
  /// False when some loop's kernel still held ops at that deadline (their memory must not be freed).
  bool stop(std::chrono::steady_clock::time_point drain_deadline =
                std::chrono::steady_clock::time_point::max()) noexcept;
  /// After stop(): moves every item still queued on the loops into `out`.
  void collect_abandoned(std::vector<work_item*>& out) noexcept {
    for (auto& loop : loops_) loop->collect_abandoned(out);
  }

  const std::vector<std::unique_ptr<event_loop_impl>>& loops() const noexcept { return loops_; }
  const thread_watch& watch(unsigned index) const noexcept { return *watches_[index]; }

 private:
  void run_loop(unsigned index) noexcept;

  class balancer final : public scheduler {
   public:
    balancer(task_registry* registry, io_pool& pool) noexcept : scheduler(registry), pool_(&pool) {}
    void schedule(work_item* item) noexcept override { pool_->least_loaded_loop()->schedule(item); }
    void schedule_later(work_item* item) noexcept override {
      pool_->least_loaded_loop()->schedule_later(item);
    }
    bool owns_current_thread() const noexcept override { return pool_->owns_current_thread(); }
    event_loop_impl* io_loop() noexcept override { return pool_->pick_loop(); }

   private:
    io_pool* pool_;
  };

  std::vector<std::unique_ptr<event_loop_impl>> loops_;
  std::vector<std::unique_ptr<thread_watch>> watches_;  // one per loop thread
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
  std::atomic<bool> stopped_{false};
  // Written before the loops are told to stop (their stop flag publishes it to their threads).
  std::atomic<std::chrono::steady_clock::rep> drain_deadline_{
      std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
  std::atomic<bool> drained_{true};  // every loop's drain emptied its ring
  balancer balancer_{registry(), *this};
};

}  // namespace coring::detail
