// SPDX-License-Identifier: MIT
// What shutdown needs to destroy every unfinished task (and free its frame) instead of leaking
// it, plus the spawn/complete counters and the handler for exceptions nobody observed (detached
// tasks', and what when_all, when_any and task_group cannot hand to their awaiting task).
//
// An unfinished task is either still queued, never started (its cell is a work item in some
// pool's queue: the pools hand those over at shutdown), or it has started and awaited something:
// a task tree is entered here before its first suspension (every coring awaitable and every co_await
// of a child task calls before_suspend). Trees that run to the end without suspending never touch
// the registry. The cells' state machine (spawn, start, finish, join, release) is task_cell.cpp.
//
// Sharded by thread to keep the lock uncontended: a cell remembers its shard, and completion
// (possibly on another thread) locks that shard only. Counters are relaxed atomics in the shard
// of the counting thread, summed by metrics().
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "coring/detail/spin_lock.hpp"
#include "coring/detail/task_cell.hpp"

namespace coring::detail {

class blocking_pool;
class task_registry;

/// Told of every finished task of a registry (a standalone event_loop, whose run() returns once
/// its tasks are done), on the thread that finished it. It must count the completion
/// (count_completion()) itself, so that it can do it inside its own guard against destruction.
class completion_listener {
 public:
  virtual void task_finished(task_registry& registry) noexcept = 0;

 protected:
  ~completion_listener() = default;
};

class task_registry {
 public:
  using exception_handler = std::function<void(std::exception_ptr)>;

  task_registry();
  /// Waits for reports of late-dropped handles still calling this registry's handler.
  ~task_registry();
  task_registry(const task_registry&) = delete;
  task_registry& operator=(const task_registry&) = delete;

  void add(task_cell& cell) noexcept;
  void remove(task_cell& cell) noexcept;
  void count_spawn() noexcept;
  void count_completion() noexcept;
  /// Counts a completion, through the completion listener if there is one.
  void finish_completion() noexcept;
  /// Destroys every registered task and every never-started cell among `abandoned` (the items
  /// left in the queues of stopped pools): frames, and cells unless a join_handle holds them.
  /// Returns how many tasks it destroyed. Only when no thread runs tasks of this registry.
  std::size_t destroy_all(const std::vector<work_item*>& abandoned) noexcept;

  /// Set once, before any task.
  void set_completion_listener(completion_listener* listener) noexcept { listener_ = listener; }

  /// The runtime's blocking pool for spawn_blocking (null: a standalone event_loop's registry,
  /// whose tasks use the process-wide pool). Set once, before any task.
  void set_blocking(blocking_pool* pool) noexcept { blocking_ = pool; }
  blocking_pool* blocking() const noexcept { return blocking_; }

  void set_exception_handler(exception_handler handler);
  /// Hands an exception nobody observed (a detached task's; from the combinators through
  /// detail::report_unhandled, unhandled.hpp) to the handler, or prints it (describe_exception).
  void report(std::exception_ptr error) noexcept;
  /// Reports `error` to the registry with `id` if it still exists, else prints it (a join_handle
  /// dropped after its runtime was destroyed). Any thread.
  static void report_late(std::uint64_t id, std::exception_ptr error) noexcept;
  /// Never reused by another registry of the process, unlike the address.
  std::uint64_t id() const noexcept { return id_; }

  /// Calls `visit` with every registered tree under its shard's lock (keep it short: the tree's
  /// completion waits for it; it must not come back to this registry).
  void visit_registered(const std::function<void(const task_cell&)>& visit) const;

  /// Requests stop of every registered (suspended at least once) task tree; returns how many
  /// were asked (those asked before are skipped). Any thread.
  std::size_t request_stop_all() noexcept;

  std::uint64_t spawned() const noexcept;
  std::uint64_t completed() const noexcept;

 private:
  static constexpr unsigned shard_count = 8;
  struct alignas(64) shard {
    mutable spin_lock lock;
    task_cell* head = nullptr;
  };
  // The first `counter_slots` threads that count get a slot of their own and count with a plain
  // load and store (no locked instruction on the spawn path); later threads share slots and use
  // fetch_add.
  static constexpr unsigned counter_slots = 64;
  struct alignas(64) counter_slot {
    std::atomic<std::uint64_t> spawned{0};
    std::atomic<std::uint64_t> completed{0};
  };
  static void bump(std::atomic<std::uint64_t>& counter) noexcept;
  counter_slot& this_thread_counters() noexcept;

  completion_listener* listener_ = nullptr;  // set once, before any task
  blocking_pool* blocking_ = nullptr;        // set once, before any task
  std::uint64_t id_ = 0;                     // set once
  unsigned late_reports_ = 0;                // report_late calls in progress, under its lock
  shard shards_[shard_count];
  counter_slot counters_[counter_slots];
  std::mutex handler_mutex_;
  std::shared_ptr<const exception_handler> handler_;  // guarded by handler_mutex_
};

/// Frees a cell and the frame it owns.
void destroy_cell(task_cell& cell) noexcept;

/// Shutdown's end of a task that will never finish: its frame goes, the cell stays while a
/// join_handle refers to it (which then reports operation_canceled).
void destroy_unfinished(task_registry& registry, task_cell& cell) noexcept;

/// True for the work item of a spawned task that has not started (a task_cell).
bool is_unstarted_cell(const work_item* item) noexcept;

}  // namespace coring::detail
