// SPDX-License-Identifier: MIT
// coring::sync_wait(awaitable): runs an awaitable to completion from a plain thread (main(), a
// test) and returns its result (or rethrows its exception).
//
// It drives a private event_loop on the calling thread until the awaitable is done, so I/O and
// timers work without a runtime; a task may still move to a runtime's pool with on(ex) and back.
// Do not call it from a runtime's thread (it would block that pool); use co_await there.
#pragma once

#include <type_traits>
#include <utility>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/event_loop.hpp"
#include "coring/on.hpp"
#include "coring/runtime.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

/// Awaits `awaitable`, stores the outcome, and ends on the loop's thread (the awaitable may have
/// moved the task to another pool): the loop only notices the end of a task that ends there.
template <class A, class R>
task<void> sync_wait_body(A& awaitable, block_on_state<R>& state, executor home) {
  try {
    if constexpr (std::is_void_v<R>) {
      co_await awaitable;
      state.set_value(std::monostate{});
    } else {
      state.set_value(co_await awaitable);
    }
  } catch (...) {
    state.set_exception(std::current_exception());
  }
  co_await on(home);
  state.signal();
}

}  // namespace detail

template <class Awaitable>
detail::await_result_t<Awaitable> sync_wait(Awaitable&& awaitable) {
  using result_type = detail::await_result_t<Awaitable>;
  event_loop loop;
  detail::block_on_state<result_type> state;
  loop.spawn(detail::sync_wait_body<std::remove_reference_t<Awaitable>, result_type>(awaitable, state,
                                                                                     loop.get_executor()))
      .detach();
  loop.run();
  return state.wait_and_take();
}

}  // namespace coring
