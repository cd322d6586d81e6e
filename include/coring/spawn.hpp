// SPDX-License-Identifier: MIT
// coring::spawn(ex, task): starts a task on an executor's pool and returns its join_handle.
// coring::spawn_detached(ex, task): the same without a handle (fire and forget).
//
// The task is queued at once (spawn is eager) and runs on `ex`'s pool; it resumes there after every
// wait until it moves itself with co_await on(other).
//
// Where a spawned task lands, by executor and by the spawning thread:
//   rt.cpu()             a CPU worker spawning: the top of its own deque (others steal from it);
//                        any other thread: the pool's injection queue. Workers steal either way.
//   rt.io()              an io loop of this runtime spawning: that same loop (its local queue, no
//                        atomic); any other thread (main, a CPU worker, a foreign thread): the next
//                        loop round-robin (a CPU worker's own I/O goes to a fixed loop, but spawn
//                        does not). The task then stays on that loop: io loops do not steal. So an
//                        accept loop that spawns each connection with rt.io() keeps all of them on
//                        its own loop, whatever runtime_options::io_threads says.
//   rt.io_balanced()     from any thread, an io loop included: the loop with the least load (tasks
//                        queued + requests in the kernel + timers at its last turn, plus tasks
//                        placed on it since; equal loads take turns). Use it to spread a server's
//                        connections over every io loop (examples/echo_server.cpp); it costs a
//                        read of each loop's load and one relaxed fetch_add, and a cross-thread
//                        hand-off when the chosen loop is not the caller's.
//   co_await this_executor()  where the spawning task runs: its CPU pool, or its own loop (from
//                        any thread, that loop; see this_executor.hpp).
//   event_loop::get_executor()  that loop; it runs the task when you drive it. Any thread may spawn,
//   including threads that
// do not belong to the runtime. A detached task (spawn_detached, or a dropped handle) runs to its
// end or until shutdown; an exception it throws goes to the runtime's unhandled-exception handler.
// spawn_detached costs less than spawn(...).detach(): no handle shares the task's cell, so
// neither side pays an atomic read-modify-write to decide who frees it.
#pragma once

#include <source_location>

#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/task.hpp"

namespace coring {

// `site` (the caller's, by default) is the spawn site that runtime::dump_tasks() and stall
// reports name for the task.
template <class T>
join_handle<T> spawn(executor ex, task<T> t, std::source_location site = std::source_location::current()) {
  auto frame = t.release();
  detail::task_cell* cell = detail::spawn_cell(ex.scheduler(), frame, frame.promise(), site);
  return join_handle<T>{cell};
}

template <class T>
void spawn_detached(executor ex, task<T> t, std::source_location site = std::source_location::current()) {
  auto frame = t.release();
  detail::spawn_cell(ex.scheduler(), frame, frame.promise(), site, /*with_handle=*/false);
}

}  // namespace coring
