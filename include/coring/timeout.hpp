// SPDX-License-Identifier: MIT
// coring::timeout(duration, awaitable): the awaitable's result, or errc::timed_out when the
// duration elapses first.
//
//   auto n = co_await coring::timeout(std::chrono::seconds(5), stream.read(buffer));
//   if (n.error() == std::errc::timed_out) ...
//
// A single ring operation (stream.read(), file.read_at(), listener.accept(), sleep_for(), ...)
// gets the deadline itself: it is submitted with a linked IORING_OP_LINK_TIMEOUT (an absolute
// CLOCK_MONOTONIC time, so a retry after EINTR/EAGAIN keeps it), no task and no timer is added, and
// the operation completes with errc::timed_out when the kernel cancels it. The task resumes only
// after both completions, so the buffer outlives the kernel's use of it.
//
// Anything else (a task, when_all, ...) runs as a child task on the awaiting task's pool, raced
// against a timer (see when_any): when the timer wins, the child is asked to stop (its sleeps and
// ring operations complete with operation_canceled) and awaited before timeout returns, so buffers
// it uses are free again. Every wait on a coring primitive is a cancellation point, so
// `timeout(d, ch.receive())`, `timeout(d, m.scoped_lock())`, `timeout(d, event.wait())` and
// `timeout(d, handle)` end after d. An awaitable that already returns result<T> gives result<T>
// (not result<result<T>>); an exception it throws is rethrown. Await the result in the same
// expression (the awaitable is awaited in place).
//
// No result is lost to the race: when the timer fires but the work had already finished with its
// own result (an item received, a lock taken, an error other than operation_canceled), timeout
// gives that result, not timed_out. A cancellation always comes back as a value, never as an
// exception: errc::timed_out when the timer caused it, errc::operation_canceled when the awaiting
// task was asked to stop (also when it was asked before the timeout began), for both forms.
// In a runtime without io pool no timer can run: timeout stops the work at once and gives
// errc::not_supported (unless the work had already finished with its own result).
#pragma once

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <limits>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/io_op.hpp"
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
bool is_canceled_result(const R& r) noexcept {
  return !r.has_value() && r.error() == std::errc::operation_canceled;
}

template <class R>
task<void> keep_result(task<R> work, std::optional<timeout_result_t<R>>& out) {
  if constexpr (std::is_void_v<R>) {
    co_await work;
    out.emplace();
  } else {
    out.emplace(co_await work);
  }
}

/// Empty when the sleep elapsed; operation_canceled when the awaiting task was asked to stop or
/// the work finished first; not_supported where there is no io loop (a CPU-only runtime).
inline task<std::error_code> timeout_timer(std::chrono::nanoseconds limit) {
  co_return (co_await sleep_for(limit)).error();
}

template <class R>
task<timeout_result_t<R>> race_timeout(task<R> work, std::chrono::nanoseconds limit) {
  using out_t = timeout_result_t<R>;
  std::optional<out_t> finished;  // the work's own result, kept even when the timer wins the race
  bool fired = false;
  bool no_timer = false;  // no io loop to keep the timer (a CPU-only runtime)
  try {
    auto outcome = co_await when_any_of(keep_result(std::move(work), finished), timeout_timer(limit));
    if (outcome.index == 1) {
      const std::error_code timer = std::get<1>(outcome.value);
      fired = !timer;
      no_timer = timer == std::errc::not_supported;
    }
  } catch (const std::system_error& e) {
    // A stop request for the awaiting task, or the work's own wait ending as canceled (it throws
    // for void waits): reported as a value, as the ring form does.
    if (e.code() != std::errc::operation_canceled) throw;
  }
  if (finished && !is_canceled_result(*finished)) co_return std::move(*finished);
  if (fired) co_return std::make_error_code(std::errc::timed_out);
  if (no_timer) co_return std::make_error_code(std::errc::not_supported);
  co_return std::make_error_code(std::errc::operation_canceled);
}

template <class Op>
concept ring_awaitable = std::derived_from<std::remove_cvref_t<Op>, op_awaitable>;

/// A ring operation with a deadline: the operation itself, awaited in place.
template <class Op>
struct deadline_awaitable {
  Op& inner;

  bool await_ready() noexcept { return inner.await_ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    return inner.await_suspend(awaiting);
  }
  decltype(auto) await_resume() noexcept { return inner.await_resume(); }
};

inline std::uint64_t deadline_after(std::chrono::nanoseconds limit) noexcept {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  constexpr auto far = std::numeric_limits<std::int64_t>::max() / 2;  // no overflow in the kernel either
  if (limit.count() <= 0) return static_cast<std::uint64_t>(now);
  if (limit.count() >= far - now) return static_cast<std::uint64_t>(far);
  return static_cast<std::uint64_t>(now + limit.count());
}

}  // namespace detail

/// A ring operation or sleep with a deadline (a linked timeout in the kernel).
template <class Rep, class Period, detail::ring_awaitable Op>
[[nodiscard]] detail::deadline_awaitable<std::remove_reference_t<Op>> timeout(
    std::chrono::duration<Rep, Period> limit, Op&& operation) noexcept {
  using seconds = std::chrono::duration<double>;
  const bool far = std::chrono::duration_cast<seconds>(limit) >= seconds(1e9);  // ~31 years
  operation.op.deadline = detail::deadline_after(
      far ? std::chrono::nanoseconds::max() : std::chrono::duration_cast<std::chrono::nanoseconds>(limit));
  return {operation};
}

template <class Rep, class Period, class Awaitable>
requires(detail::awaitable<std::remove_reference_t<Awaitable>> &&
         !detail::ring_awaitable<Awaitable>) auto timeout(std::chrono::duration<Rep, Period> limit,
                                                          Awaitable&& awaitable) {
  return detail::race_timeout(detail::to_task(std::forward<Awaitable>(awaitable)),
                              std::chrono::duration_cast<std::chrono::nanoseconds>(limit));
}

}  // namespace coring
