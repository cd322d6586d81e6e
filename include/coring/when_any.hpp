// SPDX-License-Identifier: MIT
// coring::when_any: run several tasks concurrently; the first to finish wins.
//
//   auto [index, value] = co_await coring::when_any(read_reply(sock), coring::sleep_for(5s) ...);
//
// The children are spawned on the pool of the awaiting task. The first child to finish (with a
// value or an exception) wins; the others are asked to stop at once (their sleeps and ring
// operations complete with operation_canceled) and are awaited before when_any returns, so nothing
// outlives it. The result is the winner's index and value (void as std::monostate); if the winner
// threw, its exception is rethrown. The losers' values are dropped; their exceptions go to the
// unhandled-exception handler of the runtime (or event_loop) the awaiting task runs on, except
// std::system_error(errc::operation_canceled): every loser is asked to stop, and that is how a
// stopped child ends (so is a loser canceled before it started). A stop request
// for the awaiting task reaches every child; if it stops them all before any finished, when_any
// throws std::system_error(operation_canceled). A when_any that begins after stop was requested
// for the awaiting task throws that at once, without starting any child (an awaitable given to
// it, e.g. a channel receive, is never awaited, so it takes nothing).
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/detail/unhandled.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

template <class... Ts>
struct when_any_result {
  std::size_t index;
  std::variant<detail::value_or_monostate<Ts>...> value;
};

namespace detail {

/// Decides the winner: the first child to finish. The others are stopped once the group is
/// complete (children may finish while the parent is still spawning their siblings).
struct race {
  std::atomic<std::size_t> winner{static_cast<std::size_t>(-1)};
  std::atomic<bool> armed{false};
  std::atomic<bool> decided{false};
  child_group* group = nullptr;

  void finished(std::size_t index) noexcept {
    std::size_t none = static_cast<std::size_t>(-1);
    if (winner.compare_exchange_strong(none, index, std::memory_order_acq_rel)) {
      decided.store(true, std::memory_order_seq_cst);
      if (armed.load(std::memory_order_seq_cst)) group->stop_all();
    }
  }
  void arm() noexcept {
    armed.store(true, std::memory_order_seq_cst);
    if (decided.load(std::memory_order_seq_cst)) group->stop_all();
  }
};

/// Reports the child's end to the race, with a value or an exception (not when its frame is
/// destroyed by shutdown: the race may be gone by then).
template <class T>
task<T> report_finish(task<T> child, race& r, std::size_t index) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await child;
      r.finished(index);
    } else {
      T value = co_await child;
      r.finished(index);
      co_return value;
    }
  } catch (...) {
    r.finished(index);
    throw;
  }
}

/// The child's outcome: its value, its exception, or nothing when it was canceled before it ran.
template <class T>
struct outcome {
  std::optional<value_or_monostate<T>> value;
  std::exception_ptr error;
};

template <class T>
task<outcome<T>> join_outcome(join_handle<T>& handle) {
  outcome<T> out;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await handle.wait_to_end();  // the child's end, even when the parent is stopped
      out.value.emplace();
    } else {
      out.value.emplace(co_await handle.wait_to_end());
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  co_return out;
}

/// A loser's exception nobody else will see (the rule is at the top of this file).
inline void report_loser(const executor& here, const std::exception_ptr& error) noexcept {
  if (error && !is_cancellation(error)) report_unhandled(here.scheduler(), error);
}

inline void throw_canceled() {
  throw std::system_error(std::make_error_code(std::errc::operation_canceled));
}

/// A when_any begun in a task already asked to stop reports that (a child that could run to its
/// end before the stop reached it must not win).
inline void throw_if_stopped(task_root* parent) {
  if (parent != nullptr && static_cast<task_cell*>(parent)->scope.stop_requested()) throw_canceled();
}

}  // namespace detail

namespace detail {

template <class... Ts>
task<when_any_result<Ts...>> when_any_of(task<Ts>... children) {
  const executor here = current_executor_or_throw();
  task_root* parent = co_await this_root_awaiter{};
  throw_if_stopped(parent);
  child_group group;
  race r;
  r.group = &group;
  auto handles = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple<join_handle<Ts>...>{spawn(here, detail::report_finish(std::move(children), r, I))...};
  }
  (std::index_sequence_for<Ts...>{});
  std::apply([&](auto&... h) { (group.add(h.cell()), ...); }, handles);
  r.arm();
  group.link(parent);
  auto outcomes = co_await std::apply(
      [&](auto&... h) -> task<std::tuple<detail::outcome<Ts>...>> {
        co_return std::tuple<detail::outcome<Ts>...>{co_await detail::join_outcome(h)...};
      },
      handles);
  group.unlink();
  const std::size_t winner = r.winner.load(std::memory_order_acquire);
  std::optional<when_any_result<Ts...>> result;
  std::exception_ptr error;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (((I == winner) ? (std::get<I>(outcomes).value
                           ? (void)result.emplace(when_any_result<Ts...>{
                                 I,
                                 std::variant<detail::value_or_monostate<Ts>...>{
                                     std::in_place_index<I>, std::move(*std::get<I>(outcomes).value)}})
                           : (void)(error = std::get<I>(outcomes).error))
                    : (void)0),
     ...);
  }
  (std::index_sequence_for<Ts...>{});
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((I != winner ? report_loser(here, std::get<I>(outcomes).error) : void()), ...);
  }
  (std::index_sequence_for<Ts...>{});
  if (error) std::rethrow_exception(error);
  if (!result) detail::throw_canceled();
  co_return std::move(*result);
}

}  // namespace detail

/// when_any over a pack of awaitables (tasks, sleeps, I/O operations, join handles...). Awaitables
/// that are not tasks are awaited in place: await the result in the same expression.
template <class... Awaitables>
requires(sizeof...(Awaitables) > 0 && (detail::awaitable<std::remove_reference_t<Awaitables>> &&
                                       ...)) auto when_any(Awaitables&&... awaitables) {
  return detail::when_any_of(detail::to_task(std::forward<Awaitables>(awaitables))...);
}

/// when_any over a vector: the winner's index and value (void: just the index).
template <class T>
task<std::conditional_t<std::is_void_v<T>, std::size_t, std::pair<std::size_t, T>>> when_any(
    std::vector<task<T>> children) {
  if (children.empty()) throw std::invalid_argument("coring::when_any: no tasks");
  const executor here = detail::current_executor_or_throw();
  detail::task_root* parent = co_await detail::this_root_awaiter{};
  detail::throw_if_stopped(parent);
  detail::child_group group;
  detail::race r;
  r.group = &group;
  std::vector<join_handle<T>> handles;
  handles.reserve(children.size());
  for (std::size_t i = 0; i < children.size(); ++i) {
    handles.push_back(spawn(here, detail::report_finish(std::move(children[i]), r, i)));
    group.add(handles.back().cell());
  }
  r.arm();
  group.link(parent);
  std::vector<detail::outcome<T>> outcomes;
  outcomes.reserve(handles.size());
  for (auto& h : handles) outcomes.push_back(co_await detail::join_outcome(h));
  group.unlink();
  const std::size_t winner = r.winner.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (i != winner) detail::report_loser(here, outcomes[i].error);
  }
  if (winner >= outcomes.size()) detail::throw_canceled();
  auto& won = outcomes[winner];
  if (won.error) std::rethrow_exception(won.error);
  if (!won.value) detail::throw_canceled();
  if constexpr (std::is_void_v<T>) {
    co_return winner;
  } else {
    co_return std::pair<std::size_t, T>{winner, std::move(*won.value)};
  }
}

}  // namespace coring
