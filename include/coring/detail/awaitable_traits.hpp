// SPDX-License-Identifier: MIT
// What awaiting a value of type A gives (the awaiter: awaiter_of in await_trace.hpp), and turning
// any awaitable into a task.
#pragma once

#include <type_traits>
#include <utility>

#include "coring/task.hpp"

namespace coring::detail {

template <class A>
concept awaitable = requires(A& a) {
  awaiter_of(a).await_ready();
};

/// The type of `co_await a` for an lvalue `a` of type A.
template <class A>
using await_result_t = decltype(awaiter_of(std::declval<A&>()).await_resume());

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

/// A task that awaits `awaitable`, which must outlive it (an argument of the full expression that
/// awaits the combinator, e.g. `co_await when_all(sleep_for(1s), other())`).
template <class A>
task<await_result_t<A>> await_in_task(A& awaitable) {
  co_return co_await awaitable;
}

template <class T>
task<T> to_task(task<T>&& t) noexcept {
  return std::move(t);
}
template <class A>
requires(!is_task<std::remove_cvref_t<A>>::value) auto to_task(A&& awaitable) {
  return await_in_task(awaitable);
}

}  // namespace coring::detail
