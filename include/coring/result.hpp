// SPDX-License-Identifier: MIT
// coring::result<T>: the value of an operation or the std::error_code that explains why there is
// none. Expected-like: test it with `if (r)`, read the error with `error()`, or call `value()`,
// which throws std::system_error carrying that error. result<void> carries only the error.
// Not thread-safe; a plain value type.
//
// Dropped results: the type is [[nodiscard]], so a statement
// `co_await s.write(bytes);` that ignores whether the write worked is diagnosed by clang
// (-Wunused-result, an error with CORING_WERROR) but not by g++ 12. Tried with g++ 12.2: neither
// [[nodiscard]] on result<T> nor on an awaiter's await_resume() makes it warn for a discarded
// co_await: the await_resume() call is one the compiler builds itself while lowering the
// coroutine, and g++ 12 does not check that call. __attribute__((warn_unused_result)) on
// await_resume() does make g++ 12 warn, but only when it returns a scalar (not a class such as
// result<T>), and then even for `(void)co_await x;`, which could not be silenced. So the
// discard stays undiagnosed on g++ 12; build with clang (CMAKE_CXX_COMPILER=clang++) to find
// such statements, and write `(void)co_await x;` where dropping the result is meant.
#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace coring {

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::error_code>, "result<error_code> is ambiguous");

 public:
  using value_type = T;

  result() requires std::is_default_constructible_v<T> : storage_(std::in_place_index<0>) {}
  result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}    // NOLINT: implicit by design
  result(std::error_code error) : storage_(std::in_place_index<1>, error) {  // NOLINT
    assert(error && "a result error must be an error");
  }
  result(std::errc error) : result(std::make_error_code(error)) {}  // NOLINT

  explicit operator bool() const noexcept { return storage_.index() == 0; }
  bool has_value() const noexcept { return storage_.index() == 0; }

  std::error_code error() const noexcept {
    return storage_.index() == 1 ? std::get<1>(storage_) : std::error_code{};
  }

  T& value() & {
    throw_if_error();
    return std::get<0>(storage_);
  }
  const T& value() const& {
    throw_if_error();
    return std::get<0>(storage_);
  }
  T&& value() && {
    throw_if_error();
    return std::get<0>(std::move(storage_));
  }

  T& operator*() & noexcept { return std::get<0>(storage_); }
  const T& operator*() const& noexcept { return std::get<0>(storage_); }
  T&& operator*() && noexcept { return std::get<0>(std::move(storage_)); }
  T* operator->() noexcept { return &std::get<0>(storage_); }
  const T* operator->() const noexcept { return &std::get<0>(storage_); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(storage_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void throw_if_error() const {
    if (storage_.index() == 1) throw std::system_error(std::get<1>(storage_));
  }

  std::variant<T, std::error_code> storage_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;

  result() = default;
  result(std::error_code error) : error_(error) {}                  // NOLINT: implicit by design
  result(std::errc error) : error_(std::make_error_code(error)) {}  // NOLINT

  explicit operator bool() const noexcept { return !error_; }
  bool has_value() const noexcept { return !error_; }
  std::error_code error() const noexcept { return error_; }
  void value() const {
    if (error_) throw std::system_error(error_);
  }

 private:
  std::error_code error_;
};

/// Builds the error_code for a negative errno-style return (-EBADF -> bad_file_descriptor).
inline std::error_code error_from_errno(int negative_errno) noexcept {
  return {-negative_errno, std::system_category()};
}

}  // namespace coring
