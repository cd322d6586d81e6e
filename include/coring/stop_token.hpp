// SPDX-License-Identifier: MIT
// co_await coring::get_stop_token(): the std::stop_token of the current task.
//
// Every spawned task and every task it awaits share one stop state; it is stopped by
// join_handle::cancel(), by a task_group or when_all/when_any that cancels its children, or
// by a stop request of the task that awaits a group. Use the token to stop your own loops or to
// register a std::stop_callback. coring's own cancellation points need no token: a task's
// start, sleep_for/sleep_until, every ring operation (file and socket reads and writes, open,
// close, accept, connect) complete with errc::operation_canceled when stop is requested.
// A task that is not running under a runtime or event loop gets a token that never stops.
#pragma once

#include <coroutine>
#include <stop_token>

#include "coring/detail/task_cell.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

struct stop_token_awaiter {
  task_root* root = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    root = root_of(h);
    return false;
  }
  std::stop_token await_resume() const {
    return root != nullptr ? static_cast<task_cell*>(root)->scope.token() : std::stop_token{};
  }
};

}  // namespace detail

[[nodiscard]] inline detail::stop_token_awaiter get_stop_token() noexcept {
  return {};
}

}  // namespace coring
