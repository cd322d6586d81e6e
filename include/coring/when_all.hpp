// coring::when_all: run several tasks concurrently and wait for all of them.
//
//   auto [a, b] = co_await coring::when_all(fetch_user(id), fetch_orders(id));
//   std::vector<int> sizes = co_await coring::when_all(std::move(tasks));   // vector<task<int>>
//
// The children are spawned on the pool of the awaiting task and run concurrently; the awaiting
// task resumes on its own pool when the last one finished. Results come back in argument order
// (void as std::monostate). If a child throws, the others are asked to stop (their sleeps and
// ring operations complete with operation_canceled), all are still awaited, and the first
// exception is rethrown: no child outlives when_all. A stop request for the awaiting task reaches
// every child.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

/// Records the first failure of a group and stops the other children when it happens. Children
/// may fail while the parent is still spawning their siblings: the group is stopped only once it
/// is complete (`arm`).
struct failure_record {
  std::mutex mutex;
  std::exception_ptr first;
  child_group* group = nullptr;
  bool armed = false;

  void fail(std::exception_ptr error) noexcept {
    bool stop = false;
    {
      std::lock_guard lock(mutex);
      if (!first) {
        first = std::move(error);
        stop = armed;
      }
    }
    if (stop) group->stop_all();
  }
  /// Every child is in the group: from now on a failure stops the siblings at once.
  void arm() noexcept {
    bool stop = false;
    {
      std::lock_guard lock(mutex);
      armed = true;
      stop = static_cast<bool>(first);
    }
    if (stop) group->stop_all();
  }
};

template <class T>
task<T> stop_siblings_on_failure(task<T> child, failure_record& failures) {
  try {
    co_return co_await child;
  } catch (...) {
    failures.fail(std::current_exception());
    throw;
  }
}

/// Awaits a child; its value, or nothing when it failed (the failure is in the record already).
template <class T>
task<std::optional<value_or_monostate<T>>> join_child(join_handle<T>& handle, failure_record& failures) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await handle;
      co_return std::monostate{};
    } else {
      co_return co_await handle;
    }
  } catch (...) {
    failures.fail(std::current_exception());  // also covers a child canceled before it started
    co_return std::nullopt;
  }
}

template <class... Ts>
task<std::tuple<value_or_monostate<Ts>...>> when_all_of(task<Ts>... children) {
  const executor here = current_executor_or_throw();
  task_root* parent = co_await this_root_awaiter{};
  child_group group;
  failure_record failures;
  failures.group = &group;
  std::tuple<join_handle<Ts>...> handles{
      spawn(here, detail::stop_siblings_on_failure(std::move(children), failures))...};
  std::apply([&](auto&... h) { (group.add(h.cell()), ...); }, handles);
  failures.arm();
  group.link(parent);
  auto results = co_await std::apply(
      [&](auto&... h) -> task<std::tuple<std::optional<detail::value_or_monostate<Ts>>...>> {
        co_return std::tuple<std::optional<detail::value_or_monostate<Ts>>...>{
            co_await detail::join_child(h, failures)...};
      },
      handles);
  group.unlink();
  if (failures.first) std::rethrow_exception(failures.first);
  co_return std::apply(
      [](auto&... r) { return std::tuple<detail::value_or_monostate<Ts>...>{std::move(*r)...}; }, results);
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
  const executor here = detail::current_executor_or_throw();
  detail::task_root* parent = co_await detail::this_root_awaiter{};
  detail::child_group group;
  detail::failure_record failures;
  failures.group = &group;
  std::vector<join_handle<T>> handles;
  handles.reserve(children.size());
  for (auto& child : children) {
    handles.push_back(spawn(here, detail::stop_siblings_on_failure(std::move(child), failures)));
    group.add(handles.back().cell());
  }
  failures.arm();
  group.link(parent);
  std::vector<std::optional<detail::value_or_monostate<T>>> results;
  results.reserve(handles.size());
  for (auto& h : handles) results.push_back(co_await detail::join_child(h, failures));
  group.unlink();
  if (failures.first) std::rethrow_exception(failures.first);
  std::vector<detail::value_or_monostate<T>> values;
  values.reserve(results.size());
  for (auto& r : results) values.push_back(std::move(*r));
  co_return values;
}

}  // namespace coring
