// SPDX-License-Identifier: MIT
// coring::async_latch: a single-use countdown that tasks wait on (like std::latch, but waiting
// suspends the task instead of blocking the thread).
//
// Thread safety: every member may be called from any thread, on any pool. When count_down() brings
// the count to zero, every waiting task is woken exactly once and resumes on the pool it waited from;
// `co_await wait()` once the count is zero does not suspend. What a task did before its count_down()
// is visible to every task released by the latch. Lifetime: the latch must outlive every task waiting
// on it (a waiting task destroyed by runtime shutdown unlinks itself); a task that saw the latch
// released (its wait returned, or try_wait()) may destroy it at once, even while the last
// count_down() still runs.
//
// Cancellation: `co_await wait()` is a cancellation point, as async_event::wait(): a stop request
// for the waiting task resumes it with std::system_error(errc::operation_canceled), and so does a
// wait that begins after stop was requested unless the latch is already released. A canceled
// wait leaves the count as it was.
//
// A latch is a counter in front of an async_event that is set once, when the count reaches zero.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <stdexcept>

#include "coring/async_event.hpp"

namespace coring {

class async_latch {
 public:
  /// Throws std::invalid_argument when `count` is negative.
  explicit async_latch(std::ptrdiff_t count) : count_(checked_count(count)) {
    if (count == 0) reached_.set();
  }
  async_latch(const async_latch&) = delete;
  async_latch& operator=(const async_latch&) = delete;

  /// Decrements the count by `n`; the one that reaches zero wakes every waiting task.
  /// Precondition: 0 <= n <= the current count.
  void count_down(std::ptrdiff_t n = 1) noexcept {
    assert(n >= 0 && "async_latch::count_down: negative n");
    if (n == 0) return;
    const std::ptrdiff_t old = count_.fetch_sub(n, std::memory_order_acq_rel);
    assert(old >= n && "async_latch::count_down: below zero");
    if (old == n) reached_.set();
  }

  /// True once the count reached zero and the waiters were released. (It reads the event, not the
  /// count: a caller that sees true may destroy the latch, and the event knows when the last
  /// count_down() is done with it.)
  bool try_wait() const noexcept { return reached_.is_set(); }

  /// The count now (a snapshot: other threads may count down at once). 0 does not mean the
  /// waiters were released yet: use try_wait() before destroying the latch.
  std::ptrdiff_t remaining() const noexcept { return count_.load(std::memory_order_relaxed); }

  /// `co_await l.wait()`: returns once the count is zero.
  [[nodiscard]] async_event::wait_awaiter wait() noexcept { return reached_.wait(); }

 private:
  static std::ptrdiff_t checked_count(std::ptrdiff_t count) {
    if (count < 0) throw std::invalid_argument("coring::async_latch: count must not be negative");
    return count;
  }

  std::atomic<std::ptrdiff_t> count_;
  async_event reached_;
};

}  // namespace coring
