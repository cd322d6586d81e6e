// SPDX-License-Identifier: MIT
// coring::use_task: an Asio completion token that makes any Asio asynchronous operation awaitable
// in a coring task:
//
//     auto waited = co_await timer.async_wait(coring::use_task);          // result<void>
//     auto n = co_await asio::async_read(socket, buffer, coring::use_task); // result<std::size_t>
//
// What the await gives, by the operation's completion signature:
//   void(error_code)            -> result<void>          void()              -> void
//   void(error_code, T)         -> result<T>             void(T)             -> T
//   void(error_code, T, U...)   -> result<tuple<T, U...>> void(T, U...)      -> tuple<T, U...>
//   void(exception_ptr)         -> void, rethrown        void(exception_ptr, T) -> T, rethrown
// Standalone Asio's error_code is std::error_code. Errors of Asio's system category (errno values)
// come back in std::system_category, so they compare equal to std::errc like every coring error
// (operation_aborted is errc::operation_canceled); Asio's other categories (asio::error::eof,
// netdb, addrinfo) stay as they are and compare equal to Asio's constants. The values an operation
// delivers together with an error (the bytes read before EOF) are not part of a result: await with
// asio::experimental::as_tuple(coring::use_task) to get them all, exactly as Asio gave them.
//
// Where it runs. The operation is started on its I/O object's executor (asio::dispatch: inline
// when the calling thread already runs that executor, else posted there), so an object on a strand
// is only touched on its strand; Asio calls the completion handler there, and the handler queues the
// task on the coring pool it awaited from: the task never resumes on an Asio thread (a task driven by
// hand outside any runtime is the exception: it has no pool, so it resumes where the handler runs).
// The io_context is the application's: some thread must run it (see README "Asio users").
//
// Cancellation. The await is a cancellation point. A stop request for the awaiting task
// (join_handle::cancel(), timeout(), when_any, task_group) emits asio::cancellation_type::terminal on
// the operation's cancellation slot, on the object's executor. The operation then ends as Asio ends
// it (for most, at once with operation_aborted) and the await returns whatever it completed with:
// an operation that completed anyway keeps its result, nothing it delivered is lost. A stop
// requested before the await starts the operation means it is never started: the await ends with
// operation_canceled at once. An operation without an executor (asio::post(token) with no
// executor), or one that ignores cancellation slots, runs to its end.
// An operation whose handler is destroyed without being called (its io_context was destroyed or
// reset with the operation pending) ends the await with operation_canceled: as an error for
// signatures with an error_code, as std::system_error otherwise.
//
// Lifetime. The operation's state is shared by the awaiting frame and the handler, so either may
// go first. A task destroyed while it awaits (runtime shutdown) asks Asio to cancel the operation and
// waits up to 100 ms for its handler, so that an operation reading into the frame's buffers does not
// write into freed memory; an io_context that nobody runs then does not touch the buffers at all.
// Thread safety: use_task is a constant; each await is used by its one task.
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

/// The completion token type; use the constant coring::use_task.
struct use_task_t {
  constexpr use_task_t() noexcept = default;
};

/// Completion token: `co_await op(..., coring::use_task)` in a coring task.
inline constexpr use_task_t use_task{};

namespace detail::asio_interop {

template <class... Values>
struct values_of {
  using type = std::tuple<Values...>;
};
template <class Value>
struct values_of<Value> {
  using type = Value;
};
template <>
struct values_of<> {
  using type = void;
};

/// What an await of an operation with completion arguments `Args...` (decayed) returns, and how.
template <class... Args>
struct completion_traits {
  using await_type = typename values_of<Args...>::type;
  static constexpr bool has_error_code = false;
  static constexpr bool has_exception = false;
};
template <class... Values>
struct completion_traits<std::error_code, Values...> {
  using await_type = result<typename values_of<Values...>::type>;
  static constexpr bool has_error_code = true;
  static constexpr bool has_exception = false;
};
template <class... Values>
struct completion_traits<std::exception_ptr, Values...> {
  using await_type = typename values_of<Values...>::type;
  static constexpr bool has_error_code = false;
  static constexpr bool has_exception = true;
};

/// The part of one await that both the awaiting frame and Asio's handler reach: whichever of
/// them ends last frees it.
template <class... Args>
struct shared_state {
  enum : int { starting, waiting, completed_while_starting, waking, woken, abandoned };

  std::optional<std::tuple<Args...>> completed;  // the handler's arguments
  std::exception_ptr start_failure;              // the initiation threw
  ::asio::cancellation_signal signal;            // emitted and connected on the object's executor
  waiter* awaiting = nullptr;
  std::atomic<int> state{starting};
  std::atomic<bool> ended{false};             // the handler was called or destroyed, or the start was skipped
  std::atomic<bool> cancel_requested{false};  // a stop came: a start that has not run yet skips
  bool initiating = false;                    // the initiation runs (on the thread that starts it)
  bool dropped_while_initiating = false;      // ... and destroyed the handler uncalled

  /// Asio's side, once the outcome is stored: wake the task, unless it has not suspended yet (then
  /// await_suspend sees the outcome and does not suspend) or it is gone.
  void end() noexcept {
    ended.store(true, std::memory_order_release);
    int expected = starting;
    if (state.compare_exchange_strong(expected, completed_while_starting, std::memory_order_acq_rel)) return;
    if (expected == waiting && state.compare_exchange_strong(expected, waking, std::memory_order_acq_rel)) {
      awaiting->wake();
      state.store(woken, std::memory_order_release);
    }
  }
  /// The frame's side while it is destroyed: true when Asio will never wake it.
  bool abandon() noexcept {
    int expected = waiting;
    if (state.compare_exchange_strong(expected, abandoned, std::memory_order_acq_rel)) return true;
    while (state.load(std::memory_order_acquire) != woken) std::this_thread::yield();  // waking it now
    return false;
  }
  bool is_abandoned() const noexcept { return state.load(std::memory_order_acquire) == abandoned; }
};

/// The completion handler given to Asio: move-only; calling it or destroying it uncalled ends the
/// await (an empty `completed` then means "dropped").
template <class... Args>
class handler {
 public:
  using cancellation_slot_type = ::asio::cancellation_slot;

  explicit handler(std::shared_ptr<shared_state<Args...>> state) noexcept : state_(std::move(state)) {}
  handler(handler&&) noexcept = default;
  handler& operator=(handler&&) = delete;
  handler(const handler&) = delete;
  ~handler() {
    if (state_ == nullptr) return;
    if (state_->initiating) {
      state_->dropped_while_initiating = true;  // the start decides: it may have thrown
    } else {
      state_->end();
    }
  }

  cancellation_slot_type get_cancellation_slot() const noexcept { return state_->signal.slot(); }

  template <class... Given>
  void operator()(Given&&... given) {
    auto state = std::move(state_);
    state->signal.slot().clear();
    try {
      state->completed.emplace(std::forward<Given>(given)...);
    } catch (...) {
      state->start_failure = std::current_exception();  // copying the arguments threw
    }
    state->end();
  }

 private:
  std::shared_ptr<shared_state<Args...>> state_;
};

template <class Initiation>
concept has_executor = requires(const Initiation& initiation) {
  initiation.get_executor();
};

struct no_executor {};

template <class Initiation>
auto executor_of(const Initiation& initiation) {
  if constexpr (has_executor<Initiation>) {
    return initiation.get_executor();
  } else {
    return no_executor{};
  }
}

/// The awaitable that async_result<use_task_t, ...>::initiate returns: lazy, it starts the
/// operation when awaited (so nothing runs if it is never awaited).
template <class Initiation, class InitArgs, class... Args>
class operation : private waiter {
  using traits = completion_traits<Args...>;
  using state_type = shared_state<Args...>;
  using executor_type = decltype(executor_of(std::declval<const Initiation&>()));

 public:
  template <class I, class... A>
  explicit operation(I&& initiation, A&&... args)
      : initiation_(std::forward<I>(initiation)), init_args_(std::forward<A>(args)...) {}
  // Moved only before it is awaited (returned through Asio's initiating function).
  operation(operation&& other) noexcept(
      std::is_nothrow_move_constructible_v<Initiation>&& std::is_nothrow_move_constructible_v<InitArgs>)
      : waiter(), initiation_(std::move(other.initiation_)), init_args_(std::move(other.init_args_)) {}
  operation& operator=(operation&&) = delete;

  ~operation() {
    if (!suspended_) return;
    // Destroyed while it waits: the runtime is destroying this task at shutdown.
    (void)disarm();
    if (!state_->abandon()) return;  // Asio's handler already ran
    // Ask Asio to end the operation and give it a moment, so that it does not write into buffers
    // of this frame after the frame is freed.
    request_cancel();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    while (!state_->ended.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    // Everything on_stop() reads is in place before arm() publishes it to stop requests.
    state_ = std::make_shared<state_type>();
    state_->awaiting = this;
    if constexpr (!std::is_same_v<executor_type, no_executor>) executor_.emplace(executor_of(initiation_));
    prepare(awaiting);
    if (!arm(&on_stop)) {
      canceled_before_start_ = true;
      return false;
    }
    start();
    int expected = state_type::starting;
    if (!state_->state.compare_exchange_strong(expected, state_type::waiting, std::memory_order_acq_rel)) {
      return false;  // completed (or failed to start) before it had to wait
    }
    suspended_ = true;
    return true;
  }

  typename traits::await_type await_resume() {
    suspended_ = false;
    (void)disarm();
    if (canceled_before_start_) return canceled_outcome();
    if (state_->start_failure) std::rethrow_exception(state_->start_failure);
    if (!state_->completed) return canceled_outcome();  // the handler was destroyed uncalled
    return std::apply([](auto&&... values) { return make_outcome(std::move(values)...); },
                      std::move(*state_->completed));
  }

 private:
  // The start request owns the initiation and its arguments, so that a start that runs after this
  // frame is gone (posted, then the task destroyed) does not read the frame; it then starts
  // nothing. A start request destroyed without running (its io_context destroyed first) ends
  // the wait as a dropped handler does.
  class starter {
   public:
    starter(std::shared_ptr<state_type> state, Initiation&& initiation, InitArgs&& args)
        : state_(std::move(state)), initiation_(std::move(initiation)), args_(std::move(args)) {}
    starter(starter&&) noexcept = default;
    starter& operator=(starter&&) = delete;
    ~starter() {
      if (state_ != nullptr) state_->end();  // never ran
    }

    void operator()() noexcept {
      auto state = std::move(state_);
      if (state->is_abandoned()) {
        state->ended.store(true, std::memory_order_release);
        return;
      }
      if (state->cancel_requested.load(std::memory_order_acquire)) {
        // Stopped before the operation started: its cancellation, queued behind this start,
        // would find nothing to cancel. Start nothing; the wait ends as canceled.
        state->end();
        return;
      }
      state->initiating = true;
      try {
        std::apply([&](auto&... arg) { std::move(initiation_)(handler<Args...>(state), std::move(arg)...); },
                   args_);
      } catch (...) {
        state->initiating = false;
        if (!state->ended.load(std::memory_order_acquire)) {  // not already completed inline
          state->start_failure = std::current_exception();
          state->end();
        }
        return;
      }
      state->initiating = false;
      if (state->dropped_while_initiating) state->end();
    }

   private:
    std::shared_ptr<state_type> state_;
    Initiation initiation_;
    InitArgs args_;
  };

  void start() {
    starter start_now(state_, std::move(initiation_), std::move(init_args_));
    if constexpr (std::is_same_v<executor_type, no_executor>) {
      start_now();
    } else {
      try {
        ::asio::dispatch(*executor_, std::move(start_now));
      } catch (...) {
        // No memory to queue the start: whichever starter still holds the state ends the wait.
      }
    }
  }

  void request_cancel() noexcept {
    state_->cancel_requested.store(true, std::memory_order_release);
    if constexpr (!std::is_same_v<executor_type, no_executor>) {
      try {
        ::asio::dispatch(*executor_, [state = state_]() noexcept {
          state->signal.emit(::asio::cancellation_type::terminal);
        });
      } catch (...) {
        // No memory to post the request: the operation runs to its end.
      }
    }
  }

  /// Asio's own system category carries errno values: as std::system_category they compare
  /// equal to std::errc like every other coring error. Asio's other categories (misc: eof,
  /// netdb, addrinfo) have no std:: counterpart and stay as they are.
  static std::error_code portable(std::error_code error) noexcept {
    if (error.category() == ::asio::error::get_system_category())
      return {error.value(), std::system_category()};
    return error;
  }

  static void on_stop(waiter& self) noexcept { static_cast<operation&>(self).request_cancel(); }

  static typename traits::await_type canceled_outcome() {
    if constexpr (traits::has_error_code) {
      return std::make_error_code(std::errc::operation_canceled);
    } else {
      throw_canceled();
    }
  }

  template <class... Values>
  static typename traits::await_type make_outcome(Values&&... values) {
    if constexpr (traits::has_error_code) {
      return with_error(std::forward<Values>(values)...);
    } else if constexpr (traits::has_exception) {
      return with_exception(std::forward<Values>(values)...);
    } else if constexpr (sizeof...(Values) == 0) {
      return;
    } else if constexpr (sizeof...(Values) == 1) {
      return (std::forward<Values>(values), ...);
    } else {
      return typename traits::await_type(std::forward<Values>(values)...);
    }
  }
  template <class... Rest>
  static typename traits::await_type with_error(std::error_code error, Rest&&... rest) {
    if (error) return portable(error);
    if constexpr (sizeof...(Rest) == 0) {
      return {};
    } else if constexpr (sizeof...(Rest) == 1) {
      return (std::forward<Rest>(rest), ...);
    } else {
      return typename traits::await_type::value_type(std::forward<Rest>(rest)...);
    }
  }
  template <class... Rest>
  static typename traits::await_type with_exception(std::exception_ptr error, Rest&&... rest) {
    if (error) std::rethrow_exception(error);
    if constexpr (sizeof...(Rest) == 1) {
      return (std::forward<Rest>(rest), ...);
    } else if constexpr (sizeof...(Rest) > 1) {
      return typename traits::await_type(std::forward<Rest>(rest)...);
    }
  }

  Initiation initiation_;
  InitArgs init_args_;
  std::optional<executor_type> executor_;  // where the operation starts and is canceled
  std::shared_ptr<state_type> state_;
  bool suspended_ = false;
  bool canceled_before_start_ = false;
};

}  // namespace detail::asio_interop
}  // namespace coring

template <class Result, class... Args>
class asio::async_result<coring::use_task_t, Result(Args...)> {
 public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& initiation, coring::use_task_t, InitArgs&&... args) {
    return coring::detail::asio_interop::operation<
        std::decay_t<Initiation>, std::tuple<std::decay_t<InitArgs>...>, std::decay_t<Args>...>(
        std::forward<Initiation>(initiation), std::forward<InitArgs>(args)...);
  }
};
