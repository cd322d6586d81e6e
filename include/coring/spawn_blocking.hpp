// SPDX-License-Identifier: MIT
// coring::spawn_blocking(fn): runs a blocking function (a synchronous database call, a blocking
// library, heavy file system work) on the blocking pool and awaits its result, so that neither
// the io pool nor the CPU pool is stalled.
//
//   std::string text = co_await coring::spawn_blocking([] { return read_legacy_config(); });
//
// The blocking pool is elastic and process-wide: a thread is created when a job arrives and none
// is idle (up to blocking_pool_limit, after which jobs queue), and a thread idle for 10 s exits.
// The awaiting task resumes on the pool it awaited from; an exception thrown by `fn` is rethrown
// there. The job is not a cancellation point: once started, fn runs to its end. If the awaiting
// task is destroyed first (runtime shutdown), fn still runs to its end and its result is dropped.
// g++ 12 note: a lambda with captures written directly inside the co_await expression
// (`co_await spawn_blocking([s = std::move(str)] {...})`) can be copied byte-wise by the compiler,
// which breaks captured short strings; name it first (`auto job = [...]{...}; co_await
// spawn_blocking(std::move(job));`), as src/net/resolve.cpp does.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "coring/detail/waiter.hpp"

namespace coring {

/// Most threads the blocking pool runs at once.
inline constexpr std::size_t blocking_pool_limit = 512;

namespace detail {

/// Queues `job` on the process-wide blocking pool. Throws std::system_error if no thread could be
/// started and none is running.
void run_blocking(std::function<void()> job);

/// What a blocking job and the task awaiting it share. The job fills `result` and then calls
/// finish(); the task's awaiter calls abandon() when it is destroyed before the job finished.
template <class R>
struct blocking_state {
  std::mutex mutex;
  bool done = false;
  bool abandoned = false;
  waiter* awaiting = nullptr;  // set while the task is suspended
  std::variant<std::monostate, std::conditional_t<std::is_void_v<R>, std::monostate, R>, std::exception_ptr>
      result;

  void finish() {
    waiter* to_wake = nullptr;
    {
      std::lock_guard lock(mutex);
      done = true;
      if (!abandoned) to_wake = std::exchange(awaiting, nullptr);
    }
    if (to_wake != nullptr) to_wake->wake();
  }
};

template <class R>
class blocking_awaiter {
 public:
  template <class Fn>
  explicit blocking_awaiter(Fn&& fn) : state_(std::make_shared<blocking_state<R>>()) {
    run_blocking([state = state_, f = std::forward<Fn>(fn)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          f();
          state->result.template emplace<1>();
        } else {
          state->result.template emplace<1>(f());
        }
      } catch (...) {
        state->result.template emplace<2>(std::current_exception());
      }
      state->finish();
    });
  }
  blocking_awaiter(const blocking_awaiter&) = delete;
  blocking_awaiter& operator=(const blocking_awaiter&) = delete;
  ~blocking_awaiter() {
    std::lock_guard lock(state_->mutex);
    state_->abandoned = true;
    state_->awaiting = nullptr;
  }

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    waiter_.prepare(h);
    std::lock_guard lock(state_->mutex);
    if (state_->done) return false;
    state_->awaiting = &waiter_;
    return true;
  }
  R await_resume() {
    auto& result = state_->result;  // the job finished before the task was woken (or resumed)
    // Take the exception out of the shared state: the pool thread may drop the state last, and
    // must not be the one that frees an exception this task is handling.
    if (result.index() == 2) std::rethrow_exception(std::exchange(std::get<2>(result), nullptr));
    if constexpr (!std::is_void_v<R>) return std::move(std::get<1>(result));
  }

 private:
  std::shared_ptr<blocking_state<R>> state_;
  waiter waiter_;
};

}  // namespace detail

template <class Fn>
[[nodiscard]] auto spawn_blocking(Fn&& fn) {
  using R = std::invoke_result_t<std::decay_t<Fn>&>;
  return detail::blocking_awaiter<R>{std::forward<Fn>(fn)};
}

}  // namespace coring
