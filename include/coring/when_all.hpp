// coring::when_all: run several tasks concurrently and wait for all of them.
//
//   auto [a, b] = co_await coring::when_all(fetch_user(id), fetch_orders(id));
//   std::vector<int> sizes = co_await coring::when_all(std::move(tasks));   // vector<task<int>>
//
// The children are forked onto the pool of the awaiting task and run concurrently (the last one
// starts at once on the awaiting thread; the others are queued, for idle workers to steal); the
// awaiting task resumes on its own pool when the last one finished. Children are not spawned
// tasks: no task_cell, no join_handle, one counter for the group (detail/fork_group.hpp). Results come back
// in argument order (void as std::monostate). If a child throws, the others are asked to stop (their sleeps
// and ring operations complete with operation_canceled), all are still awaited, and the first exception is
// rethrown: no child outlives when_all. A stop request for the awaiting task reaches every child.
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/detail/fork_group.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

/// What a when_all over forked children ends with: the first failure, or operation_canceled when
/// a child was stopped before it started (the awaiting task was canceled).
inline void rethrow_fork_failure(const fork_group& group, const fork_slot* slots, std::size_t count) {
  if (group.first_error) std::rethrow_exception(group.first_error);
  for (std::size_t i = 0; i < count; ++i) {
    if (slots[i].canceled) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "coring::when_all: a child was canceled before it started");
    }
  }
}

template <class T>
value_or_monostate<T> take_result(std::coroutine_handle<> frame) {
  auto& promise = std::coroutine_handle<task_promise<T>>::from_address(frame.address()).promise();
  if constexpr (std::is_void_v<T>) {
    promise.take();
    return std::monostate{};
  } else {
    return promise.take();
  }
}

template <class T>
void adopt_child(task<T>& child, fork_group& group, fork_slots& slots) {
  if (!child.valid()) throw std::invalid_argument("coring::when_all: a task is empty (moved-from)");
  auto handle = child.release();
  handle.promise().root = &group;
  slots.add(handle, group);
}

template <class... Ts>
task<std::tuple<value_or_monostate<Ts>...>> when_all_of(task<Ts>... children) {
  (void)current_executor_or_throw();
  task_root* parent = co_await this_root_awaiter{};
  constexpr std::size_t count = sizeof...(Ts);
  fork_group group;
  fork_slot_storage<count> storage;
  fork_slots slots(&storage, count);
  (adopt_child(children, group, slots), ...);
  co_await fork_awaiter{group, slots.data(), count, parent};
  group.unlink();
  rethrow_fork_failure(group, slots.data(), count);
  co_return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple<value_or_monostate<Ts>...>{take_result<Ts>(slots[I].frame)...};
  }
  (std::index_sequence_for<Ts...>{});
}

}  // namespace detail

/// when_all over a pack of awaitables (tasks, sleeps, I/O operations, join handles...). Awaitables
/// that are not tasks are awaited in place: await the result in the same expression.
template <class... Awaitables>
requires(sizeof...(Awaitables) > 0 && (detail::awaitable<std::remove_reference_t<Awaitables>> &&
                                       ...)) auto when_all(Awaitables&&... awaitables) {
  return detail::when_all_of(detail::to_task(std::forward<Awaitables>(awaitables))...);
}

template <class T>
task<std::vector<detail::value_or_monostate<T>>> when_all(std::vector<task<T>> children) {
  const std::size_t count = children.size();
  if (count == 0) co_return std::vector<detail::value_or_monostate<T>>{};
  (void)detail::current_executor_or_throw();
  detail::task_root* parent = co_await detail::this_root_awaiter{};
  detail::fork_group group;
  detail::fork_slots slots(count);
  for (task<T>& child : children) detail::adopt_child(child, group, slots);
  co_await detail::fork_awaiter{group, slots.data(), count, parent};
  group.unlink();
  detail::rethrow_fork_failure(group, slots.data(), count);
  std::vector<detail::value_or_monostate<T>> values;
  values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) values.push_back(detail::take_result<T>(slots[i].frame));
  co_return values;
}

}  // namespace coring
