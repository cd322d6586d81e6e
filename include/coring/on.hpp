// SPDX-License-Identifier: MIT
// co_await coring::on(ex): move the current task onto `ex`'s pool (a no-op when it already runs
// there). co_await coring::yield(): let other queued work run, then continue on the same pool.
//
// After on(ex) the task stays on ex's pool — also after later I/O and timers — until the next on().
// on(ex) for a runtime that was shut down throws std::system_error(errc::operation_canceled) at
// once instead of parking the task where no thread will ever run it.
#pragma once

#include <coroutine>
#include <system_error>

#include "coring/detail/scheduler.hpp"
#include "coring/executor.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

struct on_awaiter : resume_item {
  wait_note note_wait() const noexcept { return {"on(executor): the hop to another pool"}; }
  scheduler* target;

  explicit on_awaiter(scheduler* s) noexcept : target(s) {}
  on_awaiter(const on_awaiter&) = delete;
  on_awaiter& operator=(const on_awaiter&) = delete;

  bool refused = false;  // the target's runtime shut down: it would never run the task

  bool await_ready() const noexcept { return target->owns_current_thread(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if (target->refuses() != scheduler::refusal::accepting) [[unlikely]] {
      refused = true;
      return false;
    }
    before_suspend(root_of(h));
    handle = h;
    target->schedule(this);
    return true;
  }
  void await_resume() const {
    if (refused) [[unlikely]]
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
  }
};

struct yield_awaiter : resume_item {
  wait_note note_wait() const noexcept { return {"yield"}; }
  bool await_ready() const noexcept { return current_scheduler() == nullptr; }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> h) noexcept {
    before_suspend(root_of(h));
    handle = h;
    current_scheduler()->schedule_later(this);
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

[[nodiscard]] inline detail::on_awaiter on(executor ex) noexcept {
  return detail::on_awaiter{ex.scheduler()};
}

[[nodiscard]] inline detail::yield_awaiter yield() noexcept {
  return {};
}

}  // namespace coring
