// coring::spawn(ex, task): starts a task on an executor's pool and returns its join_handle.
//
// The task is queued at once (spawn is eager) and runs on `ex`'s pool; it resumes there after every
// wait until it moves itself with co_await on(other). Any thread may spawn, including threads that
// do not belong to the runtime.
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

}  // namespace coring
