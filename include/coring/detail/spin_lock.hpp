// SPDX-License-Identifier: MIT
// spin_lock: a test-and-test-and-set lock for critical sections of a few pointer updates
// (registries, waiter lists). Spins with pause, yields every 64 spins (the holder may have been
// preempted). acquire on lock, release on unlock.
#pragma once

#include <atomic>
#include <thread>

namespace coring::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class spin_lock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0; flag_.exchange(true, std::memory_order_acquire);) {
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins % 64 == 0) {
          std::this_thread::yield();
        } else {
          cpu_relax();
        }
      }
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace coring::detail
