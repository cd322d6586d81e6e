// SPDX-License-Identifier: MIT
// coring::when_all: run several tasks concurrently and wait for all of them.
//
//   auto [a, b] = co_await coring::when_all(fetch_user(id), fetch_orders(id));
//   std::vector<int> sizes = co_await coring::when_all(std::move(tasks));   // vector<task<int>>
//
// The children are forked onto the pool of the awaiting task and run concurrently; the awaiting
// task resumes on its own pool when the last one finished. Children are not spawned tasks: no
// task_cell, no join_handle, one counter for the group (detail/fork_group.hpp). While the worker
// has other work queued for idle threads to steal, children simply run one after another on the
// awaiting thread until one of them waits; from then on they go through the pool's queue.
// Results come back in argument order (void as std::monostate). If a child throws, the others are
// asked to stop (their sleeps and ring operations complete with operation_canceled), all are
// still awaited, and the first exception is rethrown: no child outlives when_all. Each later
// failure goes to the unhandled-exception handler of the runtime (or event_loop) the awaiting task
// runs on, except std::system_error(errc::operation_canceled), the expected end of a child that
// was stopped. A stop request for the awaiting task reaches every child.
//
// when_all over a pack returns an awaitable whose fork state lives in the awaiting frame (no
// frame of its own); it converts to a task<std::tuple<...>> for storing or spawning. The range
// form (a std::vector of tasks, or any input range of tasks: a std::list, a view that makes them)
// returns a task<std::vector<...>>; the tasks are taken out of the range when when_all is called.
// when_all_ready (when_all_ready.hpp) is the same fork without fail-fast.
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <optional>
#include <ranges>
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

/// when_all's way of ending a fork: the first failure stops the siblings and is rethrown; results
/// are the children's values. (when_all_ready.hpp has the other way.)
struct fail_fast_policy {
  static constexpr bool fail_fast = true;
  template <class T>
  using result_t = value_or_monostate<T>;
  static void check(const fork_group& group, const fork_slot* slots, std::size_t count) {
    rethrow_fork_failure(group, slots, count);
  }
  template <class T>
  static result_t<T> take(fork_slot& slot) {
    return take_result<T>(slot.frame);
  }
};

/// What `co_await when_all(tasks...)` awaits (and, with another Policy, when_all_ready). The fork
/// group and the children's slots live in this object, i.e. in the awaiting frame: a fork of a
/// pack costs no coroutine frame of its own. The children are adopted when the object is awaited;
/// before that it only holds the tasks (and may be moved, or converted to a task to be stored or
/// spawned).
template <class Policy, class... Ts>
class [[nodiscard]] fork_pack_awaitable {
 public:
  using result_type = std::tuple<typename Policy::template result_t<Ts>...>;
  static constexpr std::size_t count = sizeof...(Ts);

  explicit fork_pack_awaitable(task<Ts>... children) noexcept : children_(std::move(children)...) {}
  fork_pack_awaitable(fork_pack_awaitable&& other) noexcept : children_(std::move(other.children_)) {}
  fork_pack_awaitable& operator=(fork_pack_awaitable&&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) {
    (void)current_executor_or_throw();
    group_.emplace();
    group_->fail_fast = Policy::fail_fast;
    slots_.emplace(&storage_, count);
    std::apply([this](task<Ts>&... child) { (adopt_child(child, *group_, *slots_), ...); }, children_);
    return fork_awaiter{*group_, slots_->data(), count, root_of(awaiting)}.await_suspend(awaiting);
  }
  result_type await_resume() {
    group_->unlink();
    Policy::check(*group_, slots_->data(), count);
    return [this]<std::size_t... I>(std::index_sequence<I...>) {
      return result_type{Policy::template take<Ts>((*slots_)[I])...};
    }
    (std::index_sequence_for<Ts...>{});
  }

  /// The same as a task (for storing it, or spawning it); awaiting this object directly is cheaper.
  operator task<result_type>() && { return as_task(std::move(*this)); }

 private:
  static task<result_type> as_task(fork_pack_awaitable self) { co_return co_await self; }

  std::tuple<task<Ts>...> children_;
  std::optional<fork_group> group_;
  std::optional<fork_slots> slots_;  // destroyed first: it destroys the children's frames
  fork_slot_storage<count> storage_;
};

template <class... Ts>
using when_all_awaitable = fork_pack_awaitable<fail_fast_policy, Ts...>;

template <class Policy, class... Ts>
fork_pack_awaitable<Policy, Ts...> make_fork_pack(task<Ts>... children) noexcept {
  return fork_pack_awaitable<Policy, Ts...>{std::move(children)...};
}

/// The fork of a vector of tasks: a task of its own (the slots come from the frame allocator).
template <class Policy, class T>
task<std::vector<typename Policy::template result_t<T>>> fork_vector(std::vector<task<T>> children) {
  using result_type = std::vector<typename Policy::template result_t<T>>;
  const std::size_t count = children.size();
  if (count == 0) co_return result_type{};
  (void)current_executor_or_throw();
  task_root* parent = co_await this_root_awaiter{};
  fork_group group;
  group.fail_fast = Policy::fail_fast;
  fork_slots slots(count);
  for (task<T>& child : children) adopt_child(child, group, slots);
  co_await fork_awaiter{group, slots.data(), count, parent};
  group.unlink();
  Policy::check(group, slots.data(), count);
  result_type values;
  values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) values.push_back(Policy::template take<T>(slots[i]));
  co_return values;
}

/// A range of tasks (task<T> or references to them).
template <class R>
concept task_range =
    std::ranges::input_range<R> && is_task<std::remove_cvref_t<std::ranges::range_reference_t<R>>>::value;

template <task_range R>
using range_task_value_t = typename std::remove_cvref_t<std::ranges::range_reference_t<R>>::value_type;

/// Moves the tasks of `range` into a vector (taking them out of a container's elements).
template <task_range R>
std::vector<task<range_task_value_t<R>>> collect_tasks(R&& range) {
  std::vector<task<range_task_value_t<R>>> tasks;
  if constexpr (std::ranges::sized_range<R>) tasks.reserve(std::ranges::size(range));
  for (auto&& child : range) tasks.push_back(std::move(child));
  return tasks;
}

}  // namespace detail

/// when_all over a pack of awaitables (tasks, sleeps, I/O operations, join handles...). Awaitables
/// that are not tasks are awaited in place: await the result in the same expression.
template <class... Awaitables>
requires(sizeof...(Awaitables) > 0 && (detail::awaitable<std::remove_reference_t<Awaitables>> &&
                                       ...)) auto when_all(Awaitables&&... awaitables) {
  return detail::make_fork_pack<detail::fail_fast_policy>(
      detail::to_task(std::forward<Awaitables>(awaitables))...);
}

template <class T>
task<std::vector<detail::value_or_monostate<T>>> when_all(std::vector<task<T>>&& children) {
  return detail::fork_vector<detail::fail_fast_policy, T>(std::move(children));
}

/// when_all over any input range of tasks (a std::list, a view that makes tasks...): the tasks are
/// taken out of the range when when_all is called (a container is left with empty tasks).
template <detail::task_range R>
requires(!std::is_same_v<R, std::vector<task<detail::range_task_value_t<R>>>>)
    task<std::vector<detail::value_or_monostate<detail::range_task_value_t<R>>>> when_all(R&& range) {
  return detail::fork_vector<detail::fail_fast_policy, detail::range_task_value_t<R>>(
      detail::collect_tasks(std::forward<R>(range)));
}

}  // namespace coring
