// SPDX-License-Identifier: MIT
// coring::outcome<T>: how one task ended: its value, or the exception it threw (when_all_ready).
//
//   auto [a, b] = co_await coring::when_all_ready(fetch(1), fetch(2));
//   if (a) use(*a); else log(a.error());      // or a.value(): the value, or the exception rethrown
//
// A plain value type (not thread-safe), move-only when T is. outcome<void> holds only the
// exception; outcome<T&> refers to the task's referent. value() rethrows the exception;
// operator* and operator-> require has_value().
#pragma once

#include <cassert>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

namespace coring {

template <class T>
class outcome {
 public:
  using value_type = T;

  outcome(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  explicit outcome(std::exception_ptr error) : storage_(std::in_place_index<1>, std::move(error)) {
    assert(std::get<1>(storage_) && "an outcome's exception must not be empty");
  }

  explicit operator bool() const noexcept { return storage_.index() == 0; }
  bool has_value() const noexcept { return storage_.index() == 0; }
  /// The exception the task ended with; empty when it has a value.
  std::exception_ptr error() const noexcept {
    return storage_.index() == 1 ? std::get<1>(storage_) : nullptr;
  }

  T& value() & {
    rethrow_if_error();
    return std::get<0>(storage_);
  }
  const T& value() const& {
    rethrow_if_error();
    return std::get<0>(storage_);
  }
  T&& value() && {
    rethrow_if_error();
    return std::get<0>(std::move(storage_));
  }

  T& operator*() & noexcept { return std::get<0>(storage_); }
  const T& operator*() const& noexcept { return std::get<0>(storage_); }
  T&& operator*() && noexcept { return std::get<0>(std::move(storage_)); }
  T* operator->() noexcept { return std::addressof(std::get<0>(storage_)); }
  const T* operator->() const noexcept { return std::addressof(std::get<0>(storage_)); }

 private:
  void rethrow_if_error() const {
    if (storage_.index() == 1) std::rethrow_exception(std::get<1>(storage_));
  }

  std::variant<T, std::exception_ptr> storage_;
};

template <class T>
class outcome<T&> {
 public:
  using value_type = T&;

  outcome(T& value) noexcept : value_(std::addressof(value)) {}  // NOLINT: implicit by design
  explicit outcome(std::exception_ptr error) noexcept : error_(std::move(error)) {}

  explicit operator bool() const noexcept { return value_ != nullptr; }
  bool has_value() const noexcept { return value_ != nullptr; }
  std::exception_ptr error() const noexcept { return error_; }
  T& value() const {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  T& operator*() const noexcept { return *value_; }
  T* operator->() const noexcept { return value_; }

 private:
  T* value_ = nullptr;
  std::exception_ptr error_;
};

template <>
class outcome<void> {
 public:
  using value_type = void;

  outcome() noexcept = default;
  explicit outcome(std::exception_ptr error) noexcept : error_(std::move(error)) {}

  explicit operator bool() const noexcept { return !error_; }
  bool has_value() const noexcept { return !error_; }
  std::exception_ptr error() const noexcept { return error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

}  // namespace coring
