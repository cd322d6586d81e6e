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
//
// Spinning only pays while the thread that will hand over the work runs on another CPU. When the
// runtime has more threads than the process may use CPUs (an affinity mask, a container's CPU
// quota: see usable_cpus()), the thread being waited for may need the spinner's CPU, and a spin
// would only delay it. Then the spin is yielding: each pause gives the CPU away (sched_yield), so
// the other thread runs at once, and the spin never grows beyond the configured one.
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>

#include "coring/detail/spin_lock.hpp"

namespace coring::detail {

class adaptive_spin {
 public:
  explicit adaptive_spin(std::chrono::nanoseconds base, bool yielding = false) noexcept
      : base_(base), current_(base), yielding_(yielding) {}

  std::chrono::nanoseconds budget() const noexcept { return current_; }
  bool yielding() const noexcept { return yielding_; }

  /// One pause of a spin: `relax_count` cpu_relax(), or a yield of the CPU when yielding.
  void pause(unsigned relax_count) const noexcept {
    if (yielding_) {
      ::sched_yield();
      return;
    }
    for (unsigned i = 0; i < relax_count; ++i) cpu_relax();
  }

  /// The thread slept for `slept` and was woken because new work arrived.
  void woken_after(std::chrono::nanoseconds slept) noexcept {
    if (slept < 2 * current_ && !yielding_)
      current_ = std::min(current_ * 2, base_ * max_factor);
    else if (slept > base_ * reset_factor)
      current_ = base_;
  }

 private:
  static constexpr int max_factor = 16;
  static constexpr int reset_factor = 64;

  std::chrono::nanoseconds base_;
  std::chrono::nanoseconds current_;
  bool yielding_;
};

/// The CPUs this process may run on: its affinity mask, lowered by a cgroup v2 CPU quota
/// (cpu.max, rounded up). At least 1.
unsigned usable_cpus() noexcept;

}  // namespace coring::detail
