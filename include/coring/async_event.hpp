// SPDX-License-Identifier: MIT
// coring::async_event: a manual-reset event that tasks wait on.
//
// Thread safety: every member may be called from any thread, on any pool. `co_await wait()` does not
// suspend while the event is set (one atomic load); otherwise the task waits until set() and then
// resumes on the pool it waited from. set() wakes every task waiting at that moment, even if reset()
// follows at once; reset() only affects later waits. Lifetime: the event must outlive every task
// waiting on it (a waiting task destroyed by runtime shutdown unlinks itself); a task that saw the
// event set (its wait returned, or is_set()) may destroy it at once, even while set() still runs.
//
// Cancellation: `co_await wait()` is a cancellation point. A stop request for the waiting task
// (join_handle::cancel(), a when_any/timeout that it lost, ...) resumes it with
// std::system_error(errc::operation_canceled); so does a wait that begins after stop was requested,
// unless the event is already set (then the wait succeeds without suspending). Cancel-safe: a
// canceled wait changes nothing; if set() woke the task before the stop request came, the wait
// succeeds.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <mutex>

#include "coring/detail/waiter.hpp"

namespace coring {

class async_event {
 public:
  class wait_awaiter;

  explicit async_event(bool initially_set = false) noexcept : set_(initially_set) {}
  ~async_event() {
    late_.wait_idle();
    assert(waiters_.empty() && "coring::async_event destroyed while tasks wait on it");
  }
  async_event(const async_event&) = delete;
  async_event& operator=(const async_event&) = delete;

  /// `co_await e.wait()`: returns at once if the event is set, else when set() is called.
  [[nodiscard]] wait_awaiter wait() noexcept;

  /// Sets the event and wakes every waiting task. Idempotent.
  void set() noexcept {
    if (set_.load(std::memory_order_acquire)) return;  // no task waits while the event is set
    detail::late_touches::scope busy(late_);           // a waiter that sees set_ may free the event at once
    std::unique_lock lock(mutex_);
    set_.store(true, std::memory_order_release);
    detail::waiter* all = waiters_.take_all();
    for (detail::waiter* w = all; w != nullptr; w = w->next_waiter) mark_dequeued(w);
    lock.unlock();
    while (all != nullptr) {
      detail::waiter* next = all->next_waiter;
      all->wake();
      all = next;
    }
  }

  /// Clears the event: later waits suspend until the next set().
  void reset() noexcept { set_.store(false, std::memory_order_relaxed); }

  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  class [[nodiscard]] wait_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"event wait (async_event, async_latch)"}; }

    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() {
      disarm();
      // Still queued only when the waiting task is destroyed (runtime shutdown): unlink.
      if (queued_) {
        std::lock_guard lock(event_.mutex_);
        if (queued_) event_.waiters_.remove(*this);
      }
    }

    bool await_ready() const noexcept {
      return detail::coop_spend() && event_.set_.load(std::memory_order_acquire);
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      async_event& e = event_;
      std::unique_lock lock(e.mutex_);
      if (e.set_.load(std::memory_order_relaxed)) {
        lock.unlock();
        return yield_if_out_of_budget(awaiting);
      }
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested before: canceled without suspending
      queued_ = true;
      e.waiters_.push_back(*this);
      return true;  // from here on another thread may resume the task: `this` is not touched again
    }
    /// Throws std::system_error(errc::operation_canceled) when a stop request ended the wait.
    void await_resume() {
      if (disarm()) throw_canceled();
    }

   private:
    friend class async_event;
    explicit wait_awaiter(async_event& e) noexcept : event_(e) {}

    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<wait_awaiter&>(w);
      std::unique_lock lock(self.event_.mutex_);
      if (!self.queued_) return;  // set() took it first: the wait succeeds
      self.event_.waiters_.remove(self);
      self.queued_ = false;
      lock.unlock();
      self.canceled_by_stop();
    }

    async_event& event_;
    bool queued_ = false;  // in event_.waiters_; guarded by event_.mutex_
  };

 private:
  static void mark_dequeued(detail::waiter* w) noexcept { static_cast<wait_awaiter*>(w)->queued_ = false; }

  std::mutex mutex_;
  std::atomic<bool> set_;  // stored true under mutex_ (so a waiter checking it under mutex_ is not missed)
  detail::waiter_list waiters_;
  detail::late_touches late_;  // last member: destroyed (waited for) before the others
};

inline async_event::wait_awaiter async_event::wait() noexcept {
  return wait_awaiter{*this};
}

}  // namespace coring
