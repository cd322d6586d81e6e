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
// Whoever clears the last of running/handle frees the cell. The frame goes when the task
// finishes: if a handle may still take the outcome, the finishing thread first moves it into a
// result_box (task.hpp; none for a void task that ended normally), so what the frame's parameters
// own (a socket passed by value) is released at the task's end, not when the handle is dropped.
// complete and joiner are set by one fetch_add each; whoever sets the second of them resumes the
// joiner. The acq_rel on these operations publishes the task's result to the joiner and the
// joiner's fields to the finishing thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <source_location>
#include <stdexcept>
#include <system_error>
#include <type_traits>

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
  // task_root holds `outcome`: once finished with a handle, what it takes (null: void, no
  // exception); while registered, the union holds the trace (which links the registry's list).
  std::atomic<std::uint32_t> state{running | handle};
  bool canceled = false;          // written before `complete` is published; the task produced no result
  bool observed = false;          // the join_handle's awaiter took the result (or the exception)
  std::uint8_t shard = 0;         // registry shard
  std::coroutine_handle<> frame;  // until the task finishes
  task_registry* registry = nullptr;
  cancel_scope scope;
  resume_item joiner;
  scheduler* joiner_home = nullptr;
};

// Two 64-byte size classes of the frame allocator: memory per task is part of the product.
static_assert(sizeof(task_cell) <= 128, "task_cell grew past 128 bytes");

/// Allocates a cell for `frame` and schedules it on `where`. Without a handle (`with_handle`
/// false) the cell belongs to the running task alone from the start, which frees it at its end
/// without an atomic read-modify-write.
task_cell* spawn_cell(scheduler* where, std::coroutine_handle<> frame, promise_base& promise,
                      std::source_location site, bool with_handle = true);
/// Drops the join_handle's reference (an exception the task finished with and nobody observed is
/// reported to its runtime's handler, or printed when that runtime is gone).
void release_handle(task_cell& cell) noexcept;
/// Registers the joiner; false when the task already completed (the joiner must not suspend).
bool set_joiner(task_cell& cell, std::coroutine_handle<> joiner) noexcept;

/// The joiner's end: the value of the finished task, or its exception rethrown, or
/// system_error(operation_canceled) when it never ran to its end.
template <class T>
T take_outcome(task_cell& cell) {
  cell.observed = true;
  if (cell.canceled) throw std::system_error(std::make_error_code(std::errc::operation_canceled));
  using box = typename task_promise<T>::box;
  auto* b = static_cast<box*>(cell.outcome);
  if constexpr (std::is_void_v<T>) {
    if (b != nullptr && b->error) std::rethrow_exception(b->error);
  } else {
    if (b == nullptr) throw std::logic_error("coring: the task's result was already taken");
    if (b->error) std::rethrow_exception(b->error);
    if constexpr (std::is_reference_v<T>) {
      return **b->value;
    } else {
      return std::move(*b->value);
    }
  }
}

}  // namespace coring::detail
