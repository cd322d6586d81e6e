// Helpers shared by the tests.
#pragma once

#include <atomic>
#include <thread>

namespace coring_test {

/// Counts live instances, to prove that frames (and what they own) are destroyed.
struct counted {
  static inline std::atomic<int> alive{0};
  counted() noexcept { alive.fetch_add(1); }
  counted(const counted&) noexcept { alive.fetch_add(1); }
  ~counted() { alive.fetch_sub(1); }
};

inline std::thread::id this_id() noexcept {
  return std::this_thread::get_id();
}

}  // namespace coring_test
