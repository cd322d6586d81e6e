// SPDX-License-Identifier: MIT
// maybe_ready<T>: an awaitable that either holds its value already (the call could answer from
// what it had: no coroutine frame, no suspension) or holds a lazy task<T> that computes it when
// awaited. The buffered streams answer from their buffer this way, so a read_line whose line is
// already buffered costs a search and a few stores, not a task.
//
// Made by a call and awaited at once, by the task that made it (the state it decided on is the
// object's state at the call). Awaiting it twice is undefined. Resumes like the task it holds;
// the ready form never suspends, so it is not a cancellation point (like any coring operation
// that is ready).
#pragma once

#include <coroutine>
#include <optional>
#include <utility>

#include "coring/task.hpp"

namespace coring::detail {

template <class T>
class [[nodiscard]] maybe_ready {
 public:
  explicit maybe_ready(T value) : value_(std::move(value)) {}
  explicit maybe_ready(task<T> slow) noexcept : slow_(std::move(slow)) {}

  bool await_ready() const noexcept { return value_.has_value(); }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    return slow_.operator co_await().await_suspend(awaiting);
  }
  T await_resume() {
    if (value_) return std::move(*value_);
    return slow_.operator co_await().await_resume();
  }

 private:
  std::optional<T> value_;
  task<T> slow_;
};

}  // namespace coring::detail
