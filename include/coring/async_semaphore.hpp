// SPDX-License-Identifier: MIT
// coring::async_semaphore: a counting semaphore for tasks; waiting suspends the task, not the thread.
//
// Thread safety: any thread may acquire, try_acquire, release or read available().
// Fairness: FIFO. release() hands its permits directly to the longest waiters, so try_acquire()
// never overtakes a waiter and nobody starves. Uncontended acquire/release: one atomic each.
// A waiter resumes on the pool it waited from, queued there, never inside release() (only a task
// run by hand outside any runtime resumes inline). Lifetime: the semaphore must outlive the tasks
// parked on it; destroying it with waiters is undefined (unless runtime shutdown destroyed them).
// A task that got the last permit back (try_acquire, available()) may destroy the semaphore at
// once, even while the release() that returned it still runs.
//
// Cancellation: `co_await acquire()` is a cancellation point. A stop request for a task waiting for
// a permit (join_handle::cancel(), a when_any/timeout it lost...) resumes it with
// std::system_error(errc::operation_canceled), holding no permit; so does an acquire that begins
// after stop was requested while no permit is free. A free permit is taken even after a stop
// request (the acquire does not suspend). Cancel-safe: a canceled acquire never takes a permit
// and never loses one. Whether the permit or the cancellation wins is decided under the
// semaphore's guard: if release() handed the task a permit first, the acquire succeeds.
//
// Bounded: async_semaphore(initial, maximum) never holds more than `maximum` free permits. A
// release() that would leave more free throws std::overflow_error and releases nothing (usually a
// double release: a bug to see at once, not to hide by clamping). Unbounded (one argument): up
// to max_permits, checked only by an assert.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>

#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"

namespace coring {

class async_semaphore {
  class acquire_awaiter;

 public:
  /// The largest number of permits a semaphore can hold.
  static constexpr std::size_t max_permits = static_cast<std::size_t>(-1) >> 1;

  /// Throws std::invalid_argument when `initial_permits` is above max_permits (a negative count
  /// converted to std::size_t is).
  explicit async_semaphore(std::size_t initial_permits) : state_(checked_permits(initial_permits) << 1) {}
  /// A bounded semaphore: at most `maximum` free permits (see the top). Throws
  /// std::invalid_argument when `maximum` is 0 or above max_permits, or `initial_permits` above it.
  async_semaphore(std::size_t initial_permits, std::size_t maximum)
      : state_(checked_permits(initial_permits, maximum) << 1), maximum_(maximum) {}
  async_semaphore(const async_semaphore&) = delete;
  async_semaphore& operator=(const async_semaphore&) = delete;

  /// `co_await s.acquire()`: suspends until this task got one permit (at once if one is free).
  [[nodiscard]] acquire_awaiter acquire() noexcept;

  /// Takes a permit if one is free (then nobody waits); never suspends.
  bool try_acquire() noexcept {
    std::size_t s = state_.load(std::memory_order_relaxed);
    while (s >= permit) {
      if (state_.compare_exchange_weak(s, s - permit, std::memory_order_acquire, std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// Adds `n` permits: the first up to n waiters (FIFO) each get one, the rest become available.
  /// Bounded semaphore: throws std::overflow_error, releasing nothing, when more than maximum()
  /// permits would be free.
  void release(std::size_t n = 1) {
    if (n == 0) return;
    std::size_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & has_waiters) == 0) {
        assert(n <= max_permits - (s >> 1) && "async_semaphore::release: too many permits");
        if (n > maximum_ - (s >> 1)) throw_overflow(n, s >> 1);
        if (state_.compare_exchange_weak(s, s + n * permit, std::memory_order_release,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      if (release_to_waiters(n)) return;
      s = state_.load(std::memory_order_relaxed);  // the last waiter left meanwhile: add to the count
    }
  }

  /// Permits free right now (a snapshot: other threads may change it at once).
  std::size_t available() const noexcept { return state_.load(std::memory_order_relaxed) >> 1; }
  /// The most free permits this semaphore holds (max_permits when unbounded).
  std::size_t maximum() const noexcept { return maximum_; }

 private:
  // The protocol. `state_` = permits << 1 | has_waiters, where has_waiters says waiters_ is not
  // empty. A task waits only when no permit is free, and release() gives permits to waiters
  // before it counts them, so has_waiters implies 0 permits: try_acquire() and acquire() take a
  // permit with one compare-exchange (permits -> permits - 1), release() without waiters adds
  // with one compare-exchange, and a waiter can never be overtaken. A task about to wait takes
  // guard_ (a spin lock around a few pointer updates) and, under it, either still takes a permit
  // or sets has_waiters (0 -> has_waiters) and enqueues itself. has_waiters is set and cleared
  // only under guard_, and while it is set nobody else changes state_, so under guard_ it is the
  // same fact as "waiters_ is not empty". release() with has_waiters takes guard_, pops up to n
  // waiters, stores the permits left over (clearing has_waiters) if the list became empty, and
  // wakes the popped waiters after releasing guard_.
  static constexpr std::size_t has_waiters = 1;
  static constexpr std::size_t permit = 2;

  // The waiter, in the awaiting frame. `queued` (guarded by guard_) says it is in waiters_.
  // Whoever clears it under guard_ decides how the wait ends: release_to_waiters() (the task got
  // a permit), the cancel function (a stop request: operation_canceled), or the destructor (the
  // frame is destroyed while parked, at runtime shutdown).
  class acquire_awaiter : public detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"semaphore acquire"}; }

    explicit acquire_awaiter(async_semaphore& semaphore) noexcept : semaphore_(&semaphore) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() {
      disarm();
      if (queued_) semaphore_->cancel_wait(*this);
    }

    bool await_ready() noexcept { return detail::coop_spend() && semaphore_->try_acquire(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      prepare(awaiting);
      return semaphore_->acquire_or_enqueue(*this) || requeue_if_out_of_budget();
    }
    /// Throws std::system_error(errc::operation_canceled) when a stop request ended the wait.
    void await_resume() {
      if (disarm()) throw_canceled();
    }

   private:
    friend class async_semaphore;
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<acquire_awaiter&>(w);
      if (self.semaphore_->cancel_wait(self)) self.canceled_by_stop();
    }

    async_semaphore* semaphore_;
    bool queued_ = false;
  };

  /// Under guard_: takes a permit if one became free (returns false: do not suspend), else
  /// enqueues `w` (returns true). `w` may be resumed and freed by another thread as soon as
  /// guard_ is released, so nothing here touches it afterwards.
  bool acquire_or_enqueue(acquire_awaiter& w) noexcept {
    guard_.lock();
    bool armed = false;
    std::size_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s >= permit) {
        if (state_.compare_exchange_weak(s, s - permit, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          guard_.unlock();
          return false;  // taken (if `w` was armed, its cancel finds it unqueued: the permit stands)
        }
        continue;
      }
      if (!armed) {
        if (!w.arm(&acquire_awaiter::cancel)) {
          guard_.unlock();
          return false;  // stop was requested: canceled, no permit taken
        }
        armed = true;
      }
      if (s == has_waiters) break;  // only changes under guard_
      // Fails if a release() added permits meanwhile (or spuriously): look again.
      if (state_.compare_exchange_weak(s, has_waiters, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
        break;
      }
    }
    waiters_.push_back(w);
    w.queued_ = true;
    guard_.unlock();
    return true;
  }

  /// Hands up to n permits to waiters and counts the rest; false if there was no waiter any more.
  /// Throws (changing nothing) when a bounded semaphore would hold too many free permits.
  bool release_to_waiters(std::size_t n) {
    detail::waiter* first = nullptr;
    {
      // Storing the permits left over publishes them: a try_acquire() may take the last one and
      // destroy the semaphore while guard_ is still being unlocked here.
      detail::late_touches::scope busy(late_);
      guard_.lock();
      if (state_.load(std::memory_order_relaxed) != has_waiters) {
        guard_.unlock();
        return false;
      }
      if (n > maximum_) {
        // Count the waiters that would take a permit: refuse before anything changes.
        std::size_t takers = 0;
        for (detail::waiter* w = waiters_.front(); w != nullptr && takers < n; w = w->next_waiter) ++takers;
        if (n - takers > maximum_) {
          guard_.unlock();
          throw_overflow(n, 0);
        }
      }
      detail::waiter* last = nullptr;
      for (; n > 0 && !waiters_.empty(); --n) {
        auto* w = static_cast<acquire_awaiter*>(waiters_.pop_front());
        w->queued_ = false;
        if (last != nullptr) {
          last->next_waiter = w;
        } else {
          first = w;
        }
        last = w;
      }
      if (waiters_.empty()) state_.store(n * permit, std::memory_order_release);
      guard_.unlock();
    }
    while (first != nullptr) {
      detail::waiter* next = first->next_waiter;  // before wake(): the task may free `first`
      first->wake();
      first = next;
    }
    return true;
  }

  /// Takes `w` out of the list if it is still there (a stop request, or its frame is destroyed
  /// by shutdown); false when release() handed it a permit first.
  bool cancel_wait(acquire_awaiter& w) noexcept {
    guard_.lock();
    if (!w.queued_) {
      guard_.unlock();
      return false;
    }
    waiters_.remove(w);
    w.queued_ = false;
    if (waiters_.empty()) state_.store(0, std::memory_order_relaxed);
    guard_.unlock();
    return true;
  }

  static std::size_t checked_permits(std::size_t permits) {
    if (permits > max_permits) {
      throw std::invalid_argument("coring::async_semaphore: initial permits must be 0..max_permits");
    }
    return permits;
  }
  static std::size_t checked_permits(std::size_t permits, std::size_t maximum) {
    if (maximum == 0 || maximum > max_permits) {
      throw std::invalid_argument("coring::async_semaphore: maximum must be 1..max_permits");
    }
    if (permits > maximum)
      throw std::invalid_argument("coring::async_semaphore: initial permits above the maximum");
    return permits;
  }
  [[noreturn]] void throw_overflow(std::size_t n, std::size_t available) const {
    throw std::overflow_error("coring::async_semaphore::release(" + std::to_string(n) +
                              "): " + std::to_string(available) + " free permits and a maximum of " +
                              std::to_string(maximum_));
  }

  std::atomic<std::size_t> state_;
  std::size_t maximum_ = max_permits;  // set once
  detail::spin_lock guard_;
  detail::waiter_list waiters_;
  detail::late_touches late_;  // last member: destroyed (waited for) before the others
};

inline async_semaphore::acquire_awaiter async_semaphore::acquire() noexcept {
  return acquire_awaiter{*this};
}

}  // namespace coring
