// SPDX-License-Identifier: MIT
// The task cell's state machine: a spawned task's root from spawn to the last of its finishing and
// its handle's release (detail/task_cell.hpp describes the state word). Which thread does what:
//   spawn_cell      the spawning thread: makes the cell, schedules it (or refuses it at shutdown)
//   start_cell      the pool thread that runs it first (a cancelled-before-start cell completes)
//   complete_root   the thread the task finishes on: keeps the outcome for the handle or frees all
//   set_joiner      the joining task's thread; release_handle: the handle's owner
//   destroy_*       shutdown, when no thread runs the registry's tasks any more
#include <exception>
#include <stdexcept>
#include <utility>

#include "coring/detail/fork_group.hpp"
#include "coring/detail/scheduler.hpp"
#include "task/task_registry.hpp"

namespace coring::detail {

// Shutdown's end of a task that will never finish: its frame goes, the cell stays while a
// join_handle refers to it (which then reports operation_canceled). An exception thrown by a
// local's destructor (in this frame or an awaited child's) goes to the handler.
void destroy_unfinished(task_registry& registry, task_cell& cell) noexcept {
  cell.canceled = true;
  if (cell.frame) {
    if (std::exception_ptr error = destroy_suspended(std::exchange(cell.frame, {}))) registry.report(error);
  }
  const std::uint32_t old =
      cell.state.fetch_add(task_cell::complete - task_cell::running, std::memory_order_acq_rel);
  if ((old & task_cell::handle) == 0) destroy_cell(cell);
}
namespace {
void start_cell(work_item* w) noexcept;
}  // namespace

bool is_unstarted_cell(const work_item* item) noexcept {
  return item->run == &start_cell;
}

// ---- task cells ------------------------------------------------------------------------------

void destroy_cell(task_cell& cell) noexcept {
  if (cell.frame) cell.frame.destroy();
  if (!cell.registered && cell.outcome != nullptr) cell.outcome->destroy(cell.outcome);
  cell.~task_cell();
  deallocate_frame(&cell, sizeof(task_cell));
}

namespace {

// A task spawned on a runtime that shut down: it completes as canceled at once (its handle says
// operation_canceled, a block_on learns it from the frame's destruction), rather than waiting in a
// queue no thread takes from. In a fork() child the parent's runtime has no threads at all: that is
// a programming error, said as such.
void refuse_cell(scheduler::refusal why, task_cell& cell) {
  if (why == scheduler::refusal::forked) {
    destroy_cell(cell);
    throw std::logic_error(
        "coring: a runtime cannot be used in a fork() child of the process that made it; make a new runtime "
        "in the child");
  }
  cell.registry->count_completion();
  destroy_unfinished(*cell.registry, cell);
}

void start_cell(work_item* w) noexcept {
  task_cell& cell = *static_cast<task_cell*>(w);
  if (cell.scope.stop_requested()) {
    cell.canceled = true;
    std::coroutine_handle<> next = complete_root(cell, nullptr, nullptr);
    if (next != std::noop_coroutine()) next.resume();
    return;
  }
  note_tree_start(cell);
  cell.frame.resume();
}

}  // namespace

task_cell* spawn_cell(scheduler* where, std::coroutine_handle<> frame, promise_base& promise,
                      std::source_location site, bool with_handle) {
  if (!frame)
    throw std::invalid_argument("coring::spawn: the task is empty (default-constructed or moved-from)");
  if (where == nullptr) {
    frame.destroy();  // spawn took it over: it must not leak
    throw std::invalid_argument("coring::spawn: the executor is empty");
  }
  void* memory;
  try {
    memory = allocate_frame(sizeof(task_cell));
  } catch (...) {
    frame.destroy();
    throw;
  }
  auto* cell = new (memory) task_cell;
  cell->run = &start_cell;
  if (!with_handle) cell->state.store(task_cell::running, std::memory_order_relaxed);
  cell->frame = frame;
  cell->registry = where->registry();
  cell->spawned_at = site;
  promise.root = cell;
  cell->registry->count_spawn();
  if (where->refuses() != scheduler::refusal::accepting) [[unlikely]] {
    refuse_cell(where->refuses(), *cell);
    return cell;
  }
  where->schedule(cell);
  return cell;
}

void register_root(task_root& root) noexcept {
  auto& cell = static_cast<task_cell&>(root);
  cell.registry->add(cell);
}

std::coroutine_handle<> complete_root(task_root& root, const std::exception_ptr* error, box_fn box) noexcept {
  if (root.fork) return static_cast<fork_group&>(static_cast<task_cell&>(root)).child_done(error);
  auto& cell = static_cast<task_cell&>(root);
  task_registry& registry = *cell.registry;  // the cell may be gone after the state transition
  if (cell.registered) registry.remove(cell);
  // Without a handle nobody else refers to the cell, and nobody can any more: no read-modify-write.
  std::uint32_t old = cell.state.load(std::memory_order_acquire);
  if ((old & task_cell::handle) != 0) {
    // The handle may still take the outcome: keep it in the cell (a box), free the frame now.
    if (box != nullptr) {
      cell.outcome = box(cell.frame);
      if (cell.outcome != nullptr) cell.outcome->registry_id = registry.id();
    }
    cell.frame.destroy();
    cell.frame = {};
    error = cell.outcome != nullptr ? &cell.outcome->error : nullptr;
    old = cell.state.fetch_add(task_cell::complete - task_cell::running, std::memory_order_acq_rel);
  }
  std::coroutine_handle<> next = std::noop_coroutine();
  if ((old & task_cell::joiner_set) != 0) {
    next = resume_on(cell.joiner_home, cell.joiner);
  } else if ((old & task_cell::handle) == 0) {
    // Detached, or the handle was dropped while the outcome was being kept.
    if (!cell.canceled && error != nullptr && *error) registry.report(*error);
    destroy_cell(cell);
  }
  // Last: once the completion is counted, a standalone loop's owner may destroy the loop and
  // this registry (see finish_completion).
  registry.finish_completion();
  return next;
}

void release_handle(task_cell& cell) noexcept {
  // Once `running` is clear the finishing thread is done with the cell and only the handle refers
  // to it: no atomic read-modify-write needed. Otherwise fetch_sub clears the bit (it is set) in
  // one locked add, where fetch_and would be a CAS loop.
  std::uint32_t old = cell.state.load(std::memory_order_acquire);
  if ((old & task_cell::running) != 0) {
    old = cell.state.fetch_sub(task_cell::handle, std::memory_order_acq_rel);
  }
  if ((old & task_cell::running) != 0) return;  // the task finishes later and frees the cell
  if (!cell.observed && !cell.canceled && cell.outcome != nullptr && cell.outcome->error) {
    // Finished, never awaited: its exception must not vanish. The runtime may be gone by now.
    task_registry::report_late(cell.outcome->registry_id, cell.outcome->error);
  }
  destroy_cell(cell);
}

bool set_joiner(task_cell& cell, std::coroutine_handle<> joiner) noexcept {
  cell.joiner.handle = joiner;
  cell.joiner_home = current_scheduler();
  // The bit is clear: fetch_add sets it in one locked add (fetch_or would be a CAS loop).
  const std::uint32_t old = cell.state.fetch_add(task_cell::joiner_set, std::memory_order_acq_rel);
  return (old & task_cell::complete) == 0;
}

}  // namespace coring::detail
