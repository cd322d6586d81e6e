// SPDX-License-Identifier: MIT
// coring::when_all_ready: run several tasks concurrently, wait for all of them, and get how each
// one ended (its value or its exception), without fail-fast.
//
//   auto [user, orders] = co_await coring::when_all_ready(fetch_user(id), fetch_orders(id));
//   if (!orders) log(orders.error());             // outcome<T>: value or exception_ptr
//   std::vector<coring::outcome<int>> all = co_await coring::when_all_ready(std::move(tasks));
//
// The same fork as when_all (when_all.hpp, detail/fork_group.hpp): the children run on the
// awaiting task's pool (inline while the worker has work for thieves), the awaiting task resumes
// on its own pool after the last one ended, and no child outlives the call. Unlike when_all, a
// failure does not stop the siblings and nothing is rethrown or reported to the unhandled-exception
// handler: each exception is in its child's outcome<T> (outcome.hpp), in argument order (a range
// keeps its order). A stop request for the awaiting task reaches every child (their waits end with
// operation_canceled, usually their outcome then); a child stopped before it started has
// std::system_error(errc::operation_canceled) as its outcome.
//
// Over a pack it returns an awaitable that lives in the awaiting frame (converts to a task of the
// tuple for storing or spawning); over a std::vector of tasks, or any input range of tasks (a
// std::list, a view that makes them), it returns a task<std::vector<outcome<T>>>, the tasks taken
// out of the range when when_all_ready is called. Needs a runtime or event_loop thread.
#pragma once

#include <exception>
#include <ranges>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/fork_group.hpp"
#include "coring/outcome.hpp"
#include "coring/task.hpp"
#include "coring/when_all.hpp"

namespace coring {

namespace detail {

/// How one forked child ended, taken out of its frame.
template <class T>
coring::outcome<T> take_outcome_of(const fork_slot& slot) {
  if (slot.canceled) {
    return coring::outcome<T>(
        std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::operation_canceled),
                                                  "coring::when_all_ready: canceled before it started")));
  }
  auto& promise = std::coroutine_handle<task_promise<T>>::from_address(slot.frame.address()).promise();
  if constexpr (std::is_void_v<T>) {
    if (promise.error) return coring::outcome<void>(promise.error);
    return coring::outcome<void>{};
  } else {
    if (promise.result.index() == 2) return coring::outcome<T>(std::get<2>(promise.result));
    if constexpr (std::is_reference_v<T>) {
      return coring::outcome<T>(*std::get<1>(promise.result));
    } else {
      return coring::outcome<T>(std::move(std::get<1>(promise.result)));
    }
  }
}

/// when_all_ready's way of ending a fork: no failure stops the siblings; each outcome is kept.
struct ready_policy {
  static constexpr bool fail_fast = false;
  template <class T>
  using result_t = coring::outcome<T>;
  static void check(const fork_group&, const fork_slot*, std::size_t) noexcept {}
  template <class T>
  static coring::outcome<T> take(fork_slot& slot) {
    return take_outcome_of<T>(slot);
  }
};

}  // namespace detail

/// when_all_ready over a pack of awaitables (tasks, sleeps, I/O operations, join handles...).
/// Awaitables that are not tasks are awaited in place: await the result in the same expression.
template <class... Awaitables>
requires(sizeof...(Awaitables) > 0 && (detail::awaitable<std::remove_reference_t<Awaitables>> &&
                                       ...)) auto when_all_ready(Awaitables&&... awaitables) {
  return detail::make_fork_pack<detail::ready_policy>(
      detail::to_task(std::forward<Awaitables>(awaitables))...);
}

template <class T>
task<std::vector<outcome<T>>> when_all_ready(std::vector<task<T>>&& children) {
  return detail::fork_vector<detail::ready_policy, T>(std::move(children));
}

/// when_all_ready over any input range of tasks; the tasks are taken out of the range now.
template <detail::task_range R>
requires(!std::is_same_v<R, std::vector<task<detail::range_task_value_t<R>>>>)
    task<std::vector<outcome<detail::range_task_value_t<R>>>> when_all_ready(R&& range) {
  return detail::fork_vector<detail::ready_policy, detail::range_task_value_t<R>>(
      detail::collect_tasks(std::forward<R>(range)));
}

}  // namespace coring
