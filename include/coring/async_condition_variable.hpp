// SPDX-License-Identifier: MIT
// coring::async_condition_variable: a condition variable for tasks that hold an async_mutex.
//
//   auto guard = co_await mutex.scoped_lock();
//   co_await cv.wait(guard, [&] { return !queue.empty(); });   // mutex held again here
//
// wait(guard) queues the task on the condition variable and unlocks the guard's mutex as one step
// (a notify that comes after the wait began is never lost), suspends, and once notified locks the
// mutex again before it returns: the guard owns it again. wait(guard, pred) loops until pred()
// holds, checking it with the mutex held (so it returns at once if pred() already holds). Spurious
// wake-ups do not happen, but another task may change the state between a notify and the relock:
// use the predicate form.
//
// Thread safety: notify_one() and notify_all() may be called from any thread, with or without the
// mutex held; they wake the tasks queued at that moment (notify_one the longest-waiting one). A
// woken task resumes on the pool it waited from, never inside notify. Lifetime: the condition
// variable must outlive the tasks waiting on it (a task destroyed by runtime shutdown unlinks
// itself); a task that returned from its wait may destroy it at once.
//
// Cancellation: the wait is a cancellation point. A stop request for a waiting task (or a wait
// that begins after stop was requested) ends it with std::system_error(errc::operation_canceled),
// but only after the mutex was locked again: the guard owns the mutex whether the wait succeeded
// or threw, so the code that handles the error (and the guard's destructor) sees the usual state.
// That relock itself is not a cancellation point. A notify that chose the task before the stop
// request came counts: the wait succeeds (the stop shows at the task's next wait), so a
// notify_one() is never swallowed by a cancellation; a canceled wait consumes no notification.
// If the task is destroyed while waiting (runtime shutdown), the guard owns nothing and the
// mutex is not unlocked twice.
#pragma once

#include <cassert>
#include <coroutine>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "coring/async_mutex.hpp"
#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"
#include "coring/task.hpp"

namespace coring {

class async_condition_variable {
  class wait_awaiter;

 public:
  async_condition_variable() noexcept = default;
  async_condition_variable(const async_condition_variable&) = delete;
  async_condition_variable& operator=(const async_condition_variable&) = delete;
  ~async_condition_variable() {
    assert(waiters_.empty() && "coring::async_condition_variable destroyed with waiting tasks");
  }

  /// `co_await cv.wait(guard)`: unlocks, waits for a notify, relocks (see the top). `guard` must
  /// own its mutex (else std::logic_error).
  [[nodiscard]] task<void> wait(async_mutex::lock_guard& guard) {
    if (!guard.owns_lock())
      throw std::logic_error("coring::async_condition_variable::wait: the guard owns no lock");
    async_mutex* m = guard.release();  // owned by this frame while it waits: not unlocked twice
    const outcome how = co_await wait_awaiter{*this, *m};
    if (how != outcome::canceled_holding) co_await async_mutex::relock_awaiter{*m};
    guard = async_mutex::lock_guard{*m, std::adopt_lock};
    if (how != outcome::notified) detail::waiter::throw_canceled();
  }

  /// `co_await cv.wait(guard, pred)`: `while (!pred()) co_await wait(guard);`.
  template <class Pred>
  [[nodiscard]] task<void> wait(async_mutex::lock_guard& guard, Pred pred) {
    while (!pred()) co_await wait(guard);
  }

  /// Wakes the longest-waiting task, if any.
  void notify_one() noexcept {
    guard_.lock();
    auto* w = static_cast<wait_awaiter*>(waiters_.pop_front());
    if (w != nullptr) w->queued_ = false;
    guard_.unlock();
    if (w != nullptr) w->wake();
  }
  /// Wakes every task waiting now.
  void notify_all() noexcept {
    guard_.lock();
    detail::waiter* all = waiters_.take_all();
    for (detail::waiter* w = all; w != nullptr; w = w->next_waiter)
      static_cast<wait_awaiter*>(w)->queued_ = false;
    guard_.unlock();
    while (all != nullptr) {
      detail::waiter* next = all->next_waiter;  // before wake(): the task may free `all`
      all->wake();
      all = next;
    }
  }

 private:
  enum class outcome : unsigned char { notified, canceled, canceled_holding };

  // The waiter, in the wait() frame. `queued_` (under guard_) says it is in waiters_; whoever
  // clears it under guard_ decides how the wait ends: a notify, the cancel function, or the
  // destructor (the frame is destroyed while parked, at shutdown).
  class wait_awaiter : public detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"condition variable wait"}; }

    wait_awaiter(async_condition_variable& cv, async_mutex& m) noexcept : cv_(&cv), mutex_(&m) {}
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() {
      disarm();
      if (queued_) cv_->cancel_wait(*this);
    }

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      prepare(awaiting);
      async_mutex* m = mutex_;  // `this` may be resumed and freed once guard_ is released
      async_condition_variable& cv = *cv_;
      cv.guard_.lock();
      if (!arm(&cancel)) {
        cv.guard_.unlock();
        holding_ = true;  // stop was requested: not queued, the mutex still held
        return false;
      }
      cv.waiters_.push_back(*this);
      queued_ = true;
      cv.guard_.unlock();
      m->unlock();  // after queuing: a notify from the next owner finds this task
      return true;
    }
    outcome await_resume() noexcept {
      if (!disarm()) return outcome::notified;
      return holding_ ? outcome::canceled_holding : outcome::canceled;
    }

   private:
    friend class async_condition_variable;
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<wait_awaiter&>(w);
      if (self.cv_->cancel_wait(self)) self.canceled_by_stop();
    }

    async_condition_variable* cv_;
    async_mutex* mutex_;
    bool queued_ = false;   // under cv_->guard_
    bool holding_ = false;  // canceled before it unlocked the mutex
  };

  bool cancel_wait(wait_awaiter& w) noexcept {
    guard_.lock();
    if (!w.queued_) {
      guard_.unlock();
      return false;
    }
    waiters_.remove(w);
    w.queued_ = false;
    guard_.unlock();
    return true;
  }

  detail::spin_lock guard_;
  detail::waiter_list waiters_;  // under guard_
};

}  // namespace coring
