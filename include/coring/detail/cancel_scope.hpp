// The stop state shared by a spawned task and every task it awaits.
//
// request_stop() may be called from any thread. The std::stop_source behind token() is created
// only when someone asks for a token (an I/O operation or timer that registers a stop_callback,
// or get_stop_token()), so spawning a task that never waits costs no allocation.
//
// Memory ordering: request_stop() stores `requested_` then looks for a source; token() publishes
// the source then looks at `requested_`. Both are seq_cst, so at least one side sees the other and
// the source is always stopped.
#pragma once

#include <atomic>
#include <stop_token>

namespace coring::detail {

class cancel_scope {
 public:
  bool stop_requested() const noexcept { return requested_.load(std::memory_order_acquire); }

  void request_stop() noexcept {
    requested_.store(true, std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) == ready) source_.request_stop();
  }

  std::stop_token token() noexcept {
    int s = state_.load(std::memory_order_acquire);
    if (s != ready) {
      if (s == empty && state_.compare_exchange_strong(s, creating, std::memory_order_acquire)) {
        source_ = std::stop_source();
        state_.store(ready, std::memory_order_seq_cst);
        if (requested_.load(std::memory_order_seq_cst)) source_.request_stop();
      } else {
        while (state_.load(std::memory_order_acquire) != ready) {
        }
      }
    }
    return source_.get_token();
  }

 private:
  static constexpr int empty = 0;
  static constexpr int creating = 1;
  static constexpr int ready = 2;

  std::atomic<bool> requested_{false};
  std::atomic<int> state_{empty};
  std::stop_source source_{std::nostopstate};
};

}  // namespace coring::detail
