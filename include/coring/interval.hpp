// SPDX-License-Identifier: MIT
// coring::interval: a periodic timer. `co_await ticks.tick()` completes at the next tick and gives
// the time that tick was scheduled for (result<steady_clock::time_point>).
//
//   coring::interval ticks(std::chrono::seconds(1));            // first tick at once
//   while (auto t = co_await ticks.tick()) report(*t);           // until the task is canceled
//
// Schedule (as Tokio's `interval`): the first tick completes at once (at the construction time,
// or at `start` for the constructor that takes one); tick k is scheduled `k * period` later, as
// long as the task keeps up. The value tick() returns is the tick's scheduled time, not the time
// it completed, so tick - previous tick == period while on time.
//
// Missed ticks: when tick() completes more than 5 ms after the tick's scheduled time (the task was
// busy or blocked for longer than a period, or the loop was), the tick is missed, and what comes
// next follows the interval's missed_tick behaviour (Tokio's MissedTickBehavior):
// - burst (the default, as in Tokio): the missed ticks complete at once, one per tick() call, each
//   returning its own scheduled time, until the schedule is caught up; the grid stays
//   start + k * period. Right for work that must run once per period on average (a rate).
// - delay: the next tick is scheduled one period after the late tick completed: the grid moves,
//   and ticks are never closer than one period. Right for "pause `period` between runs".
// - skip: the missed ticks are dropped; the next tick is the next point of the original grid after
//   now. Right for "on the second, every second" work where stale ticks are useless.
// The 5 ms tolerance (Tokio's) keeps the normal lateness of a timer from counting as a miss, so a
// delay interval does not drift by its timer's jitter.
//
// Timers: each tick is a sleep_until in the loop's timer heap (sleep.hpp), so it works on both
// pools and resumes on the pool the task waited from (a CPU task's timer is handed to an io loop).
// tick() is a cancellation point: a stop request (join_handle::cancel(), a stop token, shutdown
// with a grace period, when_any) ends it with errc::operation_canceled, and timeout(d, ticks.tick())
// with errc::timed_out (a deadline on the timer itself); a tick that ends so is not consumed: the
// next tick() waits for the same scheduled time. Awaited outside any runtime or event loop, the
// result is errc::not_supported.
//
// Thread safety: one task ticks an interval at a time (tick(), reset() and the accessors must not
// race); the interval may move between tasks and pools between ticks. It must outlive its tick()
// in progress. A period <= 0 (after conversion to steady_clock's resolution) makes the
// constructor throw std::invalid_argument.
#pragma once

#include <chrono>
#include <stdexcept>

#include "coring/result.hpp"
#include "coring/sleep.hpp"

namespace coring {

/// What an interval does after a tick completed late (see the top of this header).
enum class missed_tick : unsigned char { burst, delay, skip };

class interval {
 public:
  using clock = std::chrono::steady_clock;

  /// An interval whose first tick completes at once.
  template <class Rep, class Period>
  explicit interval(std::chrono::duration<Rep, Period> period, missed_tick behavior = missed_tick::burst)
      : interval(clock::now(), period, behavior) {}

  /// An interval whose first tick is scheduled at `start` (in the past: it completes at once).
  template <class Rep, class Period>
  interval(clock::time_point start, std::chrono::duration<Rep, Period> period,
           missed_tick behavior = missed_tick::burst)
      : period_(checked(period)), next_(start), behavior_(behavior) {}

  class tick_awaitable : public detail::sleep_awaitable {
   public:
    result<clock::time_point> await_resume() noexcept {
      const int r = finish();
      if (r < 0) return error_from_errno(r);
      return owner_->advance(clock::now());
    }

   private:
    friend class interval;
    explicit tick_awaitable(interval& owner) noexcept : sleep_awaitable(owner.next_), owner_(&owner) {}
    interval* owner_;
  };

  /// Waits for the next tick; gives its scheduled time, or errc::operation_canceled / timed_out.
  [[nodiscard]] tick_awaitable tick() noexcept { return tick_awaitable{*this}; }

  /// Restarts the schedule: the next tick is one period from now.
  void reset() noexcept { next_ = saturating_add(clock::now(), period_); }
  /// Restarts the schedule: the next tick is at `next`.
  void reset_at(clock::time_point next) noexcept { next_ = next; }

  /// The scheduled time of the next tick.
  clock::time_point next_tick() const noexcept { return next_; }
  clock::duration period() const noexcept { return period_; }
  missed_tick behavior() const noexcept { return behavior_; }
  void set_behavior(missed_tick behavior) noexcept { behavior_ = behavior; }

 private:
  /// How late a tick may complete before it counts as missed.
  static constexpr clock::duration tolerance = std::chrono::milliseconds(5);

  template <class Rep, class Period>
  static clock::duration checked(std::chrono::duration<Rep, Period> period) {
    if (!(period > period.zero()))
      throw std::invalid_argument("coring::interval: the period must be positive");
    using seconds = std::chrono::duration<double>;
    if (std::chrono::duration_cast<seconds>(period) >=
        std::chrono::duration_cast<seconds>(clock::duration::max())) {
      return clock::duration::max();
    }
    const auto converted = std::chrono::duration_cast<clock::duration>(period);
    if (converted <= clock::duration::zero()) {
      throw std::invalid_argument("coring::interval: the period is shorter than steady_clock's resolution");
    }
    return converted;
  }

  static clock::time_point saturating_add(clock::time_point t, clock::duration d) noexcept {
    return t > clock::time_point::max() - d ? clock::time_point::max() : t + d;
  }

  /// The tick scheduled at next_ completed at `now`: returns next_ and schedules the next one.
  clock::time_point advance(clock::time_point now) noexcept {
    const clock::time_point scheduled = next_;
    if (now <= saturating_add(scheduled, tolerance) || behavior_ == missed_tick::burst) {
      next_ = saturating_add(scheduled, period_);
    } else if (behavior_ == missed_tick::delay) {
      next_ = saturating_add(now, period_);
    } else {  // skip: the first point of the grid scheduled + k * period after now
      next_ = saturating_add(now, period_ - (now - scheduled) % period_);
    }
    return scheduled;
  }

  clock::duration period_;
  clock::time_point next_;
  missed_tick behavior_;
};

}  // namespace coring
