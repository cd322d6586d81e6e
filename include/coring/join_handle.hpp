// SPDX-License-Identifier: MIT
// coring::join_handle<T>: the result side of a spawned task.
//
// `co_await h` suspends until the task finishes and gives its value or rethrows its exception;
// the awaiter resumes on the pool it awaited from. A task canceled before it started, or destroyed
// by runtime shutdown, makes `co_await h` throw std::system_error(errc::operation_canceled).
// A handle gives the task's result once: a second `co_await` after one that returned (or threw
// the task's exception), and `co_await` of an empty or moved-from handle, throw std::logic_error.
// Dropping (or detach()ing) the handle detaches the task: it runs on, and an exception it throws
// goes to the runtime's unhandled-exception handler.
//
// `co_await h` is a cancellation point of the awaiting task: a stop request for it (or one made
// before the co_await, while the awaited task is still running) resumes it with
// std::system_error(errc::operation_canceled). That stops only the wait, not the awaited task (call
// h.cancel() for that): it runs on, and the handle keeps its result, to be awaited again. A task
// that finished before the stop request gives its result.
// cancel() requests stop: a task not yet started never starts, and a task suspended in a sleep or
// an I/O operation sees it complete with errc::operation_canceled.
// Thread safety: one handle is used by one task at a time; cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "coring/detail/cancel_scope.hpp"
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

  /// Throws std::logic_error for an empty handle or one whose result was already taken.
  auto operator co_await() { return awaiter{checked_cell(), true}; }

  /// For coring's own combinators, which must wait for a child to end whatever happens to the
  /// awaiting task (when_any, task_group::join): an await that is not a cancellation point.
  auto wait_to_end() { return awaiter{checked_cell(), false}; }

  /// The task's cell (for coring's own combinators).
  detail::task_cell* cell() const noexcept { return cell_; }

 private:
  detail::task_cell* checked_cell() const {
    if (cell_ == nullptr)
      throw std::logic_error("coring::join_handle: co_await of an empty (or moved-from) handle");
    if (cell_->observed) throw std::logic_error("coring::join_handle: the task's result was already taken");
    return cell_;
  }

  // Cancellation of the wait. The hook is registered before the joiner is (registering it after
  // would touch the awaiter once the finishing task may already have resumed it), so a stop
  // request may find the joiner not set yet: the hook then waits the few instructions until the
  // awaiting thread sets it (or the task completes). Taking the joiner back is one compare-exchange
  // on the cell's state that races the finishing task's fetch_add: whichever comes first decides
  // whether the await ends canceled or with the result.
  struct awaiter : private detail::cancel_hook {
    detail::wait_note note_wait() const noexcept { return {"join of a spawned task"}; }
    detail::task_cell* cell;
    bool cancelable;
    bool canceled = false;  // written by the hook before it wakes the task
    detail::cancel_scope* scope = nullptr;

    awaiter(detail::task_cell* c, bool can) noexcept : cell(c), cancelable(can) { on_stop = &stop; }
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() { disarm(); }

    bool await_ready() const noexcept {
      return cell->state.load(std::memory_order_acquire) & detail::task_cell::complete;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      detail::task_root* root = detail::root_of(awaiting);
      detail::before_suspend(root);
      if (cancelable && root != nullptr) {
        detail::cancel_scope& s = static_cast<detail::task_cell*>(root)->scope;
        if (!s.add(*this)) {  // stop was requested before the wait began
          canceled = true;
          return false;
        }
        scope = &s;
      }
      return detail::set_joiner(*cell, awaiting);
    }
    decltype(auto) await_resume() {
      disarm();
      if (canceled) throw std::system_error(std::make_error_code(std::errc::operation_canceled));
      return detail::take_outcome<T>(*cell);
    }

   private:
    void disarm() noexcept {
      if (scope != nullptr) std::exchange(scope, nullptr)->remove(*this);
    }
    static void stop(detail::cancel_hook* hook) noexcept {
      auto* self = static_cast<awaiter*>(hook);
      detail::task_cell& c = *self->cell;
      std::uint32_t s = c.state.load(std::memory_order_acquire);
      for (;;) {
        if ((s & detail::task_cell::complete) != 0) return;  // the task's end resumes the joiner
        if ((s & detail::task_cell::joiner_set) == 0) {
          std::this_thread::yield();  // the awaiting thread is between add() and set_joiner()
          s = c.state.load(std::memory_order_acquire);
          continue;
        }
        if (c.state.compare_exchange_weak(s, s - detail::task_cell::joiner_set, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
          break;
        }
      }
      self->canceled = true;
      detail::resume_item& joiner = c.joiner;
      if (c.joiner_home != nullptr) {
        c.joiner_home->schedule(&joiner);
      } else {
        joiner.handle.resume();  // a task driven by hand, outside any runtime
      }
    }
  };

  detail::task_cell* cell_ = nullptr;
};

}  // namespace coring
