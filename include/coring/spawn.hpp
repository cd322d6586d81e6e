// SPDX-License-Identifier: MIT
// coring::spawn(ex, task): starts a task on an executor's pool and returns its join_handle.
// coring::spawn_detached(ex, task): the same without a handle (fire and forget).
//
// The task is queued at once (spawn is eager) and runs on `ex`'s pool; it resumes there after every
// wait until it moves itself with co_await on(other). Any thread may spawn, including threads that
// do not belong to the runtime. A detached task (spawn_detached, or a dropped handle) runs to its
// end or until shutdown; an exception it throws goes to the runtime's unhandled-exception handler.
// spawn_detached costs less than spawn(...).detach(): no handle shares the task's cell, so
// neither side pays an atomic read-modify-write to decide who frees it.
#pragma once

#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/task.hpp"

namespace coring {

template <class T>
join_handle<T> spawn(executor ex, task<T> t) {
  auto frame = t.release();
  detail::task_cell* cell = detail::spawn_cell(ex.scheduler(), frame, frame.promise());
  return join_handle<T>{cell};
}

template <class T>
void spawn_detached(executor ex, task<T> t) {
  auto frame = t.release();
  detail::spawn_cell(ex.scheduler(), frame, frame.promise(), /*with_handle=*/false);
}

}  // namespace coring
