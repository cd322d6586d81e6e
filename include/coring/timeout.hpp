// coring::timeout(duration, awaitable): the awaitable's result, or errc::timed_out when the
// duration elapses first.
//
//   auto n = co_await coring::timeout(std::chrono::seconds(5), stream.read(buffer));
//   if (n.error() == std::errc::timed_out) ...
//
// The awaitable runs as a child task on the awaiting task's pool, raced against a timer (see
// when_any): when the timer wins, the child is asked to stop (its sleeps and ring operations
// complete with operation_canceled) and awaited before timeout returns, so buffers it uses are
// free again. An awaitable that already returns result<T> gives result<T> (not result<result<T>>);
// an exception it throws is rethrown. Await the result in the same expression (the awaitable is
// awaited in place). (A linked IORING_OP_LINK_TIMEOUT for single ring operations is future work:
// today every deadline is a timer in the loop's heap.)
#pragma once

#include <chrono>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/result.hpp"
#include "coring/sleep.hpp"
#include "coring/task.hpp"
#include "coring/when_any.hpp"

namespace coring {

namespace detail {

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

template <class R>
using timeout_result_t = std::conditional_t<is_result<R>::value, R,
                                            std::conditional_t<std::is_void_v<R>, result<void>, result<R>>>;

template <class R>
task<timeout_result_t<R>> race_timeout(task<R> work, std::chrono::nanoseconds limit) {
  auto timer = [](std::chrono::nanoseconds d) -> task<void> { (void)co_await sleep_for(d); };
  auto outcome = co_await when_any_of(std::move(work), timer(limit));
  if (outcome.index == 1) co_return std::make_error_code(std::errc::timed_out);
  if constexpr (std::is_void_v<R>) {
    co_return result<void>{};
  } else {
    co_return std::move(std::get<0>(outcome.value));
  }
}

}  // namespace detail

template <class Rep, class Period, class Awaitable>
requires detail::awaitable<std::remove_reference_t<Awaitable>>
auto timeout(std::chrono::duration<Rep, Period> limit, Awaitable&& awaitable) {
  return detail::race_timeout(detail::to_task(std::forward<Awaitable>(awaitable)),
                              std::chrono::duration_cast<std::chrono::nanoseconds>(limit));
}

}  // namespace coring
