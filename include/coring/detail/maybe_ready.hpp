// SPDX-License-Identifier: MIT
// maybe_ready<T, Now>: an awaitable that either can answer at once (the call found what it needs,
// in a buffer: no coroutine frame, no suspension) or holds a lazy task<T> that computes the answer
// when awaited. The buffered streams answer from their buffer this way, so a read_line whose line
// is already buffered costs a search and a few stores, not a task.
//
// The ready form holds `Now`, a small function object (a pointer and a few sizes) that makes the
// T in await_resume, straight into the awaiting task's variable: the value is never built in the
// awaitable and copied out, which would cost a store-to-load stall per call.
//
// Made by a call and awaited at once, by the task that made it (the state it decided on is the
// object's state at the call). Awaiting it twice is undefined. Resumes like the task it holds;
// the ready form never suspends, so it is not a cancellation point (like any coring operation
// that is ready).
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

#include "coring/task.hpp"

namespace coring::detail {

template <class T, class Now>
class [[nodiscard]] maybe_ready {
  static_assert(std::is_nothrow_default_constructible_v<Now> && std::is_nothrow_copy_constructible_v<Now>);

 public:
  explicit maybe_ready(Now now) noexcept : now_(now) {}
  explicit maybe_ready(task<T> slow) noexcept : slow_(std::move(slow)) {}

  bool await_ready() const noexcept { return !slow_.valid(); }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    return slow_.operator co_await().await_suspend(awaiting);
  }
  T await_resume() {
    if (!slow_.valid()) return now_();
    return slow_.operator co_await().await_resume();
  }

 private:
  Now now_{};
  task<T> slow_;
};

/// A Now that gives a fixed value (for answers with nothing to compute).
template <class T>
struct ready_value {
  T value{};
  T operator()() const noexcept { return value; }
};

}  // namespace coring::detail
