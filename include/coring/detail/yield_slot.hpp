// SPDX-License-Identifier: MIT
// yield_slot: where a generator's co_yield leaves its value for the consumer (generator.hpp,
// async_generator.hpp), and the frame plumbing both generators share.
//
// A yielded value is not copied into the promise: `current` points at it while the generator is
// suspended at its co_yield. An rvalue of the value type is pointed at where it is (the temporary
// lives until the generator resumes); an lvalue (or another type converted to the value type) is
// first copied into the co_yield's awaiter, which lives in the generator's frame for as long as it
// is suspended there. A reference generator (T&) points at the referred object. The consumer may
// move from *current: only an rvalue or the awaiter's own copy is ever pointed at mutably.
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "coring/task.hpp"

namespace coring::detail {

template <class T, class Promise>
struct yield_slot {
  using value_type = std::remove_cvref_t<T>;
  using pointer = std::add_pointer_t<std::conditional_t<std::is_reference_v<T>, T, value_type>>;

  pointer current = nullptr;  // the value of the co_yield the generator is suspended at

  /// Suspends at a co_yield; where control goes is the promise's business (after_yield()).
  struct yield_awaiter {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return self.promise().after_yield();
    }
    void await_resume() const noexcept {}
  };
  /// The same, holding the copy that `current` points at.
  struct copy_awaiter : yield_awaiter {
    value_type value;
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      self.promise().current = std::addressof(value);
      return self.promise().after_yield();
    }
  };

  yield_awaiter yield_value(std::conditional_t<std::is_reference_v<T>, T, value_type&&> value) noexcept {
    current = std::addressof(value);
    return {};
  }
  copy_awaiter yield_value(const value_type& value) requires(!std::is_reference_v<T> &&
                                                             std::copy_constructible<value_type>) {
    return copy_awaiter{{}, value};
  }
  template <class U>
  requires(!std::is_reference_v<T> && !std::same_as<std::remove_cvref_t<U>, value_type> &&
           std::constructible_from<value_type, U&&>) copy_awaiter yield_value(U&& value) {
    return copy_awaiter{{}, value_type(std::forward<U>(value))};
  }
};

/// The end of a generator's body. Like task's final awaiter, it cooperates with
/// destroy_suspended (task.hpp): a frame whose local's destructor threw during destroy() is parked
/// here and freed by destroy_suspended, not handed on.
template <class Promise>
struct generator_final_awaiter {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
    if (frame_destruction* d = destroying_frame; d != nullptr && d->frame == self.address()) [[unlikely]] {
      d->parked = true;
      return std::noop_coroutine();
    }
    self.promise().current = nullptr;
    return self.promise().after_yield();
  }
  void await_resume() const noexcept {}
};

/// Frame allocation and the exception of a generator's body, for both generators.
template <class Promise>
struct generator_promise_base {
  std::exception_ptr error;  // thrown by the body; rethrown once to the consumer

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  generator_final_awaiter<Promise> final_suspend() const noexcept { return {}; }
  void return_void() const noexcept {}
  void unhandled_exception() noexcept {
    auto self = std::coroutine_handle<Promise>::from_promise(static_cast<Promise&>(*this));
    if (note_destroy_exception(self.address())) return;
    error = std::current_exception();
  }
  void rethrow_if_failed() {
    if (error) std::rethrow_exception(std::exchange(error, nullptr));
  }
};

}  // namespace coring::detail
