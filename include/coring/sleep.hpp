// SPDX-License-Identifier: MIT
// coring::sleep_for / sleep_until: suspend the current task for a while.
//
// Timers live in the event loop's timer heap; a task on the CPU pool hands its timer to an io loop
// and resumes on the CPU pool. The result is empty on expiry, or errc::operation_canceled when the
// task's stop was requested (join_handle::cancel()) before or during the sleep. Deadlines in the
// past complete at the loop's next turn. Awaited outside any runtime or event loop, the result is
// errc::not_supported.
#pragma once

#include <chrono>
#include <cstdint>

#include "coring/detail/io_op.hpp"
#include "coring/result.hpp"

namespace coring {

namespace detail {

struct sleep_awaitable : op_awaitable {
  explicit sleep_awaitable(std::chrono::steady_clock::time_point deadline) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    op.code = op_code::timer;
    op.args.timer = {ns > 0 ? static_cast<std::uint64_t>(ns) : 0};
  }
  result<void> await_resume() noexcept {
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return {};
  }
};

}  // namespace detail

[[nodiscard]] inline detail::sleep_awaitable sleep_until(
    std::chrono::steady_clock::time_point deadline) noexcept {
  return detail::sleep_awaitable{deadline};
}

template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaitable sleep_for(std::chrono::duration<Rep, Period> duration) noexcept {
  const auto now = std::chrono::steady_clock::now();
  if (duration <= duration.zero()) return detail::sleep_awaitable{now};
  using seconds = std::chrono::duration<double>;
  if (std::chrono::duration_cast<seconds>(duration) >=
      seconds(std::chrono::steady_clock::time_point::max() - now))
    return detail::sleep_awaitable{std::chrono::steady_clock::time_point::max()};
  return detail::sleep_awaitable{now +
                                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(duration)};
}

}  // namespace coring
