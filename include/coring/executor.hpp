// SPDX-License-Identifier: MIT
// coring::executor: a cheap, copyable handle to somewhere tasks run — a runtime's io pool or CPU
// pool, or one event_loop. Use it with spawn(ex, task) and co_await on(ex).
//
// Thread safety: like a pointer; any thread may use it. Lifetime: it does not keep its runtime or
// loop alive; using an executor after its runtime was destroyed is undefined.
#pragma once

#include "coring/detail/scheduler.hpp"

namespace coring {

class executor {
 public:
  explicit executor(detail::scheduler* scheduler) noexcept : scheduler_(scheduler) {}

  /// True when the calling thread runs tasks for this executor.
  bool running_in_this_thread() const noexcept { return scheduler_->owns_current_thread(); }

  detail::scheduler* scheduler() const noexcept { return scheduler_; }

  friend bool operator==(const executor&, const executor&) noexcept = default;

 private:
  detail::scheduler* scheduler_;
};

}  // namespace coring
