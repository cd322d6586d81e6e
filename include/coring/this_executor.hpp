// SPDX-License-Identifier: MIT
// co_await coring::this_executor(): the executor the awaiting task runs on now, like Asio's
// `co_await asio::this_coro::executor`.
//
//   coring::spawn_detached(co_await coring::this_executor(), serve(std::move(s)));
//
// What it gives: on a CPU worker, the runtime's CPU pool (rt.cpu()); on an io loop's thread, that
// loop (not the whole io pool: a task spawned on it runs on this loop whatever thread spawns it);
// in a standalone event_loop or in sync_wait, that loop. So `spawn(co_await this_executor(), t)`
// starts `t` where the awaiting task runs, and `co_await on(saved)` comes back there later.
// Awaited outside any runtime, loop or sync_wait (a task resumed by hand), it throws
// std::logic_error.
//
// It never suspends and costs a thread-local read; no other await pays for it.
#pragma once

#include <stdexcept>

#include "coring/detail/scheduler.hpp"
#include "coring/executor.hpp"

namespace coring {

namespace detail {

struct this_executor_awaitable {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  executor await_resume() const {
    scheduler* here = current_scheduler();
    if (here == nullptr) [[unlikely]] {
      throw std::logic_error(
          "coring::this_executor: awaited by a task that runs on no runtime pool, event loop or sync_wait");
    }
    return executor{here};
  }
};

}  // namespace detail

/// co_await this_executor() -> coring::executor: where the awaiting task runs now.
[[nodiscard]] inline detail::this_executor_awaitable this_executor() noexcept {
  return {};
}

}  // namespace coring
