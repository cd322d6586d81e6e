// SPDX-License-Identifier: MIT
// coring::generator<T>: a synchronous coroutine that yields a sequence of T, consumed as a range
// (g++ 12's standard library has no std::generator).
//
//   coring::generator<int> iota(int n) { for (int i = 0; i < n; ++i) co_yield i; }
//   for (int i : iota(3)) use(i);
//
// Lazy: the body runs only inside begin() and ++, on the consumer's thread, up to its next
// co_yield. It cannot co_await (that is async_generator). An exception thrown by the body
// propagates out of the begin() or ++ that ran it; the range then ends. Dereferencing gives a T&
// for a value generator (the yielded object itself, which may be moved from) and the T& of a
// reference generator. Move-only, single pass (std::ranges::input_range; call begin() once).
// Destroying the generator destroys a suspended body's frame (its locals' destructors run).
// Not thread-safe: one thread iterates at a time. Frames come from coring's frame allocator.
#pragma once

#include <coroutine>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

#include "coring/detail/yield_slot.hpp"
#include "coring/task.hpp"

namespace coring {

template <class T>
class generator;

namespace detail {

template <class T>
struct generator_promise : generator_promise_base<generator_promise<T>>, yield_slot<T, generator_promise<T>> {
  generator<T> get_return_object() noexcept;
  std::coroutine_handle<> after_yield() const noexcept { return std::noop_coroutine(); }
  /// A synchronous generator cannot wait: co_await in its body does not compile.
  template <class U>
  void await_transform(U&&) = delete;
};

}  // namespace detail

template <class T>
class [[nodiscard]] generator {
  static_assert(!std::is_void_v<T>, "coring::generator<void> yields nothing");

 public:
  using promise_type = detail::generator_promise<T>;
  using value_type = std::remove_cvref_t<T>;
  using reference = std::conditional_t<std::is_reference_v<T>, T, value_type&>;

  class iterator {
   public:
    using value_type = generator::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = generator::reference;

    iterator() noexcept = default;

    reference operator*() const noexcept { return static_cast<reference>(*handle_.promise().current); }
    auto operator->() const noexcept { return handle_.promise().current; }
    /// Runs the body to its next co_yield (or its end); rethrows what it threw.
    iterator& operator++() {
      handle_.resume();
      handle_.promise().rethrow_if_failed();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.handle_ || it.handle_.done();
    }

   private:
    friend class generator;
    explicit iterator(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
    std::coroutine_handle<promise_type> handle_;
  };

  generator() noexcept = default;
  explicit generator(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  generator(generator&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  generator& operator=(generator&& other) noexcept {
    if (this != &other) {
      if (handle_) detail::destroy_owned_frame(handle_);
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;
  ~generator() {
    if (handle_) detail::destroy_owned_frame(handle_);
  }

  /// Runs the body to its first co_yield; rethrows what it threw. An empty generator
  /// (default-constructed or moved-from) is an empty range.
  iterator begin() {
    if (handle_ && !handle_.done()) {
      handle_.resume();
      handle_.promise().rethrow_if_failed();
    }
    return iterator{handle_};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
generator<T> generator_promise<T>::get_return_object() noexcept {
  return generator<T>{std::coroutine_handle<generator_promise>::from_promise(*this)};
}
}  // namespace detail

}  // namespace coring
