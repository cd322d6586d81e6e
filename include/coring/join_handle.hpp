// SPDX-License-Identifier: MIT
// coring::join_handle<T>: the result side of a spawned task.
//
// `co_await h` suspends until the task finishes and gives its value or rethrows its exception;
// the awaiter resumes on the pool it awaited from. A task canceled before it started, or destroyed
// by runtime shutdown, makes `co_await h` throw std::system_error(errc::operation_canceled).
// A handle may be awaited once. Dropping (or detach()ing) the handle detaches the task: it runs
// on, and an exception it throws goes to the runtime's unhandled-exception handler.
// cancel() requests stop: a task not yet started never starts, and a task suspended in a sleep or
// an I/O operation sees it complete with errc::operation_canceled.
// Thread safety: one handle is used by one task at a time; cancel() may be called from any thread.
#pragma once

#include <coroutine>
#include <system_error>
#include <utility>

#include "coring/detail/task_cell.hpp"

namespace coring {

template <class T>
class [[nodiscard]] join_handle {
 public:
  join_handle() noexcept = default;
  explicit join_handle(detail::task_cell* cell) noexcept : cell_(cell) {}
  join_handle(join_handle&& other) noexcept : cell_(std::exchange(other.cell_, nullptr)) {}
  join_handle& operator=(join_handle&& other) noexcept {
    if (this != &other) {
      detach();
      cell_ = std::exchange(other.cell_, nullptr);
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { detach(); }

  bool valid() const noexcept { return cell_ != nullptr; }
  /// True once the task finished (with a value, an exception, or canceled).
  bool done() const noexcept {
    return cell_ != nullptr && (cell_->state.load(std::memory_order_acquire) & detail::task_cell::complete);
  }
  /// Requests stop of the task and every task it awaits. Any thread; idempotent.
  void cancel() noexcept {
    if (cell_ != nullptr) cell_->scope.request_stop();
  }
  /// Lets the task run on without a handle.
  void detach() noexcept {
    if (cell_ != nullptr) detail::release_handle(*std::exchange(cell_, nullptr));
  }

  auto operator co_await() noexcept { return awaiter{cell_}; }

  /// The task's cell (for coring's own combinators).
  detail::task_cell* cell() const noexcept { return cell_; }

 private:
  struct awaiter {
    detail::task_cell* cell;

    bool await_ready() const noexcept {
      return cell->state.load(std::memory_order_acquire) & detail::task_cell::complete;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      detail::before_suspend(detail::root_of(awaiting));
      return detail::set_joiner(*cell, awaiting);
    }
    decltype(auto) await_resume() const { return detail::take_outcome<T>(*cell); }
  };

  detail::task_cell* cell_ = nullptr;
};

}  // namespace coring
