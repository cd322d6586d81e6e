// SPDX-License-Identifier: MIT
// How long an idle thread spins for new work before it sleeps, adapted to what it sees.
//
// Waking a sleeping thread on another core costs tens of microseconds on some machines (a vCPU
// the hypervisor has to wake: ~55 µs here, see bench/wake_bench). When two threads hand work back
// and forth (a hop between pools, a channel ping-pong) and that cost exceeds the spin, each side
// gives up spinning just before the other answers, and every hand-off pays a wake-up: the pair
// falls into a slow mode and stays there. So: a sleep that ended soon after the spin gave up
// (within twice the spin) doubles the spin, up to 16x the configured one; a long sleep (64x the
// configured spin) resets it. An idle runtime still spins only after it ran something, and then
// at most 16x idle_spin.
#pragma once

#include <algorithm>
#include <chrono>

namespace coring::detail {

class adaptive_spin {
 public:
  explicit adaptive_spin(std::chrono::nanoseconds base) noexcept : base_(base), current_(base) {}

  std::chrono::nanoseconds budget() const noexcept { return current_; }

  /// The thread slept for `slept` and was woken because new work arrived.
  void woken_after(std::chrono::nanoseconds slept) noexcept {
    if (slept < 2 * current_)
      current_ = std::min(current_ * 2, base_ * max_factor);
    else if (slept > base_ * reset_factor)
      current_ = base_;
  }

 private:
  static constexpr int max_factor = 16;
  static constexpr int reset_factor = 64;

  std::chrono::nanoseconds base_;
  std::chrono::nanoseconds current_;
};

}  // namespace coring::detail
