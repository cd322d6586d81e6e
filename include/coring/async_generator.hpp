// SPDX-License-Identifier: MIT
// coring::async_generator<T>: a coroutine that may co_await (I/O, sleeps, on(ex), channels, other
// tasks...) and co_yield a sequence of T, consumed one value at a time:
//
//   coring::async_generator<std::string> lines(coring::net::tcp_stream& s);
//   auto gen = lines(stream);
//   while (auto line = co_await gen.next()) use(*line);
//
// next() gives std::optional<T> for a value generator (the yielded object moved out: move-only
// types work) and a pointer (T*, null at the end) for a reference generator (T&). Lazy: the body
// does nothing until the first next(). An exception thrown by the body is rethrown by the next()
// that ran it; later next()s give the end. Destroying the generator while it is suspended (at a
// co_yield, or never started) destroys its frame and the locals in it.
//
// Where it runs: each next() resumes the body on the consumer's thread, by symmetric transfer (no
// queue), so the body runs on the consumer's pool, and its waits resume it there (the affinity
// rule). A co_await on(ex) in the body moves the body until its next co_yield; the consumer itself
// always resumes on its own pool (queued there when the body yields from another pool).
//
// Cancellation: the body's waits run under the consumer's stop scope, so a stop request for the
// consuming task reaches the wait the body is suspended on (its sleeps, I/O and waits on coring
// primitives end with operation_canceled, as they would in the consumer). A next() begun after
// the stop request throws std::system_error(errc::operation_canceled) without resuming the body.
//
// Threads: one task awaits next() at a time; the generator object is not thread-safe. Frames come
// from coring's frame allocator.
#pragma once

#include <coroutine>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/scheduler.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/detail/yield_slot.hpp"
#include "coring/task.hpp"

namespace coring {

template <class T>
class async_generator;

namespace detail {

template <class T>
struct async_generator_promise : generator_promise_base<async_generator_promise<T>>,
                                 yield_slot<T, async_generator_promise<T>> {
  task_root* root = nullptr;           // the consumer's tree: the body's waits use its stop scope
  scheduler* consumer_home = nullptr;  // where the consumer resumes
  resume_item consumer;                // the consumer suspended in next()

  async_generator<T> get_return_object() noexcept;

  /// At a co_yield or the end: back to the consumer, directly when this thread runs its pool.
  std::coroutine_handle<> after_yield() noexcept { return resume_on(consumer_home, consumer); }
};

/// What next() gives: std::optional<T>, or T* for a reference generator.
template <class T>
using next_result_t =
    std::conditional_t<std::is_reference_v<T>, std::add_pointer_t<T>, std::optional<std::remove_cvref_t<T>>>;

template <class T>
struct [[nodiscard]] async_generator_next {
  std::coroutine_handle<async_generator_promise<T>> generator;
  bool canceled = false;

  bool await_ready() const noexcept { return !generator || generator.done(); }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    task_root* root = root_of(awaiting);
    if (root != nullptr && static_cast<task_cell*>(root)->scope.stop_requested()) [[unlikely]] {
      canceled = true;
      return awaiting;
    }
    auto& p = generator.promise();
    p.consumer.handle = awaiting;
    p.consumer_home = current_scheduler();
    p.root = root;
    before_suspend(root);  // the body may suspend on an awaitable coring does not know
    return generator;
  }
  next_result_t<T> await_resume() {
    if (!generator) [[unlikely]]
      throw std::logic_error(
          "coring: next() of an empty async_generator (default-constructed or moved-from)");
    if (canceled) [[unlikely]]
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    auto& p = generator.promise();
    if (generator.done()) {
      p.rethrow_if_failed();
      return {};
    }
    if constexpr (std::is_reference_v<T>) {
      return p.current;
    } else {
      return next_result_t<T>(std::move(*p.current));
    }
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] async_generator {
  static_assert(!std::is_void_v<T>, "coring::async_generator<void> yields nothing");

 public:
  using promise_type = detail::async_generator_promise<T>;
  using value_type = std::remove_cvref_t<T>;

  async_generator() noexcept = default;
  explicit async_generator(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  async_generator(async_generator&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  async_generator& operator=(async_generator&& other) noexcept {
    if (this != &other) {
      if (handle_) detail::destroy_owned_frame(handle_);
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  async_generator(const async_generator&) = delete;
  async_generator& operator=(const async_generator&) = delete;
  /// Destroys the body's frame; call it only while no next() is being awaited.
  ~async_generator() {
    if (handle_) detail::destroy_owned_frame(handle_);
  }

  /// `co_await gen.next()`: runs the body to its next co_yield. Gives the value (std::optional<T>,
  /// or T* for a reference generator), empty at the end; rethrows what the body threw; throws
  /// std::system_error(errc::operation_canceled) when the awaiting task was asked to stop, and
  /// std::logic_error for an empty generator.
  detail::async_generator_next<T> next() noexcept { return {handle_}; }

  /// False for a default-constructed or moved-from generator.
  bool valid() const noexcept { return static_cast<bool>(handle_); }
  /// True once the body has ended (returned or thrown).
  bool done() const noexcept { return handle_ && handle_.done(); }

 private:
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
async_generator<T> async_generator_promise<T>::get_return_object() noexcept {
  return async_generator<T>{std::coroutine_handle<async_generator_promise>::from_promise(*this)};
}
}  // namespace detail

}  // namespace coring
