// SPDX-License-Identifier: MIT
// The cell of a spawned task: what spawn() allocates beside the task's own frame.
//
// The cell is the root of a task tree. It is scheduled to start the task, owns the task's frame,
// holds the stop state shared by the tree, and is the rendezvous between the task finishing and
// its join_handle. It lives while the task runs or a join_handle refers to it.
//
// State word (`state`):
//   running  - the task has not finished; cleared by the finishing thread (or by shutdown)
//   handle   - a join_handle refers to the cell; cleared when the handle is dropped or detached
//   complete - the task's frame is at its final suspend point (or was never run / destroyed)
//   joiner   - `joiner` holds the coroutine awaiting the handle
// Whoever clears the last of running/handle frees the frame and the cell. complete and joiner are
// set by one fetch_or/fetch_add each; whoever sets the second of them resumes the joiner. The
// acq_rel on these operations publishes the task's result to the joiner and the joiner's fields to
// the finishing thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/task.hpp"

namespace coring::detail {

struct task_cell : work_item, task_root {
  static constexpr std::uint32_t running = 1;
  static constexpr std::uint32_t handle = 2;
  static constexpr std::uint32_t complete = 4;
  static constexpr std::uint32_t joiner_set = 8;

  // Starting and finishing a task reads only the first cache line: the work item, the state, the
  // frame, the registry and the scope's stop flag (the order of the fields is for that).
  std::atomic<std::uint32_t> state{running | handle};
  bool canceled = false;  // written before `complete` is published; the task produced no result
  bool observed = false;  // the join_handle's awaiter took the result (or the exception)
  unsigned shard = 0;     // registry shard
  std::coroutine_handle<> frame;
  task_registry* registry = nullptr;
  cancel_scope scope;
  resume_item joiner;
  scheduler* joiner_home = nullptr;
  task_cell* prev = nullptr;  // registry list, guarded by the shard's lock
  task_cell* next_alive = nullptr;
};

// Two 64-byte size classes of the frame allocator: memory per task is part of the product.
static_assert(sizeof(task_cell) <= 128, "task_cell grew past 128 bytes");

/// Allocates a cell for `frame` and schedules it on `where`. Without a handle (`with_handle`
/// false) the cell belongs to the running task alone from the start, which frees it at its end
/// without an atomic read-modify-write.
task_cell* spawn_cell(scheduler* where, std::coroutine_handle<> frame, promise_base& promise,
                      bool with_handle = true);
/// Drops the join_handle's reference; `exception_of` reads the exception of the task's promise
/// (reported when the task finished with one that nobody observed).
void release_handle(task_cell& cell,
                    std::exception_ptr (*exception_of)(std::coroutine_handle<>) noexcept) noexcept;
/// Registers the joiner; false when the task already completed (the joiner must not suspend).
bool set_joiner(task_cell& cell, std::coroutine_handle<> joiner) noexcept;

template <class T>
std::exception_ptr exception_of(std::coroutine_handle<> frame) noexcept {
  return std::coroutine_handle<task_promise<T>>::from_address(frame.address()).promise().exception();
}

}  // namespace coring::detail
