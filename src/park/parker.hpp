// SPDX-License-Identifier: MIT
// Parks one thread on a futex until another thread unparks it. A token that arrives before park()
// is kept, so an unpark is never lost. unpark() pairs (release) with park()'s acquire exchange.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace coring::detail {

class parker {
 public:
  void park() noexcept {
    while (state_.exchange(empty, std::memory_order_acquire) != notified) {
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, empty, nullptr,
              nullptr, 0);
    }
  }

  void unpark() noexcept {
    if (state_.exchange(notified, std::memory_order_release) != notified) {
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
              0);
    }
  }

 private:
  static constexpr std::uint32_t empty = 0;
  static constexpr std::uint32_t notified = 1;
  std::atomic<std::uint32_t> state_{empty};
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
};

}  // namespace coring::detail
