// SPDX-License-Identifier: MIT
// coring::async_mutex: mutual exclusion for tasks; waiting suspends the task, never the thread.
//
// Thread safety: any thread may lock, try_lock or unlock; ownership is not tied to a thread.
// Fairness: FIFO. unlock() hands the mutex directly to the longest waiter, so neither lock() nor
// try_lock() can overtake a waiter and nobody starves. Uncontended lock/unlock: one atomic each.
// A waiter resumes on the pool it waited from, queued there, never inside unlock() (only a task
// run by hand outside any runtime resumes inline). Lifetime: the mutex must outlive the tasks
// parked on it; destroying it with waiters is undefined (unless runtime shutdown destroyed them).
//
// Cancellation: `co_await lock()` and `co_await scoped_lock()` are cancellation points. A stop
// request for a task waiting for the mutex (join_handle::cancel(), a when_any/timeout it lost...)
// resumes it with std::system_error(errc::operation_canceled), not owning the mutex; so does a
// lock that begins after stop was requested while the mutex is taken. A free mutex is taken even
// after a stop request (the lock does not suspend; the task's next suspending wait sees the stop).
// Cancel-safe: a canceled lock never leaves the mutex taken. Whether the lock or the cancellation
// wins is decided under the mutex's guard: if unlock() handed the mutex to the task first, the
// lock succeeds (the task owns it) and the stop shows at the task's next wait.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"

namespace coring {

class async_mutex {
  class lock_awaiter;
  class scoped_lock_awaiter;

 public:
  /// Unlocks its mutex when destroyed (if it still owns it). Move-only; one guard is used by one
  /// task at a time.
  class lock_guard {
   public:
    lock_guard() noexcept = default;
    /// Takes over a lock the caller already holds (e.g. after a successful try_lock()).
    lock_guard(async_mutex& mutex, std::adopt_lock_t) noexcept : mutex_(&mutex) {}
    lock_guard(lock_guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    lock_guard& operator=(lock_guard&& other) noexcept {
      if (this != &other) {
        unlock_if_owned();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;
    ~lock_guard() { unlock_if_owned(); }

    bool owns_lock() const noexcept { return mutex_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    /// The mutex this guard owns (null when it owns none).
    async_mutex* mutex() const noexcept { return mutex_; }
    /// Gives up ownership without unlocking: the caller now owns the lock (or nothing).
    [[nodiscard]] async_mutex* release() noexcept { return std::exchange(mutex_, nullptr); }
    /// Unlocks before the end of the scope; the guard then owns nothing.
    void unlock() noexcept {
      assert(mutex_ != nullptr && "lock_guard::unlock: the guard owns no lock");
      std::exchange(mutex_, nullptr)->unlock();
    }

   private:
    void unlock_if_owned() noexcept {
      if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->unlock();
    }

    async_mutex* mutex_ = nullptr;
  };

  async_mutex() noexcept = default;
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;

  /// `co_await m.lock()`: suspends until this task owns the mutex (at once if it is free).
  [[nodiscard]] lock_awaiter lock() noexcept;
  /// `auto guard = co_await m.scoped_lock()`: like lock(), and the guard unlocks it.
  [[nodiscard]] scoped_lock_awaiter scoped_lock() noexcept;

  /// Takes the mutex if it is free and nobody waits for it; never suspends.
  bool try_lock() noexcept {
    std::uintptr_t expected = unlocked;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  /// Releases the mutex, handing it to the first waiter if there is one. Only by its owner.
  void unlock() noexcept {
    std::uintptr_t expected = locked;
    if (state_.compare_exchange_strong(expected, unlocked, std::memory_order_release,
                                       std::memory_order_relaxed)) {
      return;
    }
    assert(expected == locked_waiters && "async_mutex::unlock: the mutex is not locked");
    unlock_slow();
  }

 private:
  // The protocol. `state_` is the lock word:
  //   unlocked        nobody owns the mutex (and so nobody waits);
  //   locked          an owner, no waiter;
  //   locked_waiters  an owner, and waiters_ is not empty.
  // Uncontended, lock and unlock are one compare-exchange each (unlocked <-> locked). Only a task
  // that is about to wait takes guard_ (a spin lock around a few pointer updates) and, under it,
  // either still takes the mutex (unlocked -> locked) or marks it contended (locked ->
  // locked_waiters) and enqueues itself. Every move into or out of locked_waiters happens under
  // guard_, so under guard_ "state_ == locked_waiters" and "waiters_ is not empty" are the same
  // fact. unlock() from locked_waiters fails its compare-exchange, takes guard_, pops the first
  // waiter and makes it the owner: the state stays locked (or becomes locked when that was the
  // last waiter) and never passes through unlocked, which is why nobody can barge in. The waiter
  // is woken after guard_ is released.
  static constexpr std::uintptr_t unlocked = 0;
  static constexpr std::uintptr_t locked = 1;
  static constexpr std::uintptr_t locked_waiters = 2;

  // The waiter, in the awaiting frame. `queued` (guarded by guard_) says it is in waiters_.
  // Whoever clears it under guard_ decides how the wait ends: unlock_slow() (the task owns the
  // mutex), the cancel function (a stop request: operation_canceled), or the destructor (the
  // frame is destroyed while parked, at runtime shutdown).
  class lock_awaiter : public detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"mutex lock"}; }

    explicit lock_awaiter(async_mutex& mutex) noexcept : mutex_(&mutex) {}
    lock_awaiter(const lock_awaiter&) = delete;
    lock_awaiter& operator=(const lock_awaiter&) = delete;
    ~lock_awaiter() {
      disarm();
      if (queued_) mutex_->cancel_wait(*this);
    }

    bool await_ready() noexcept { return detail::coop_spend() && mutex_->try_lock(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      prepare(awaiting);
      return mutex_->lock_or_enqueue(*this) || requeue_if_out_of_budget();
    }
    /// Throws std::system_error(errc::operation_canceled) when a stop request ended the wait.
    void await_resume() {
      if (disarm()) throw_canceled();
    }

   private:
    friend class async_mutex;
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<lock_awaiter&>(w);
      if (self.mutex_->cancel_wait(self)) self.canceled_by_stop();
    }

    async_mutex* mutex_;
    bool queued_ = false;
    bool cancelable_ = true;  // false only for relock_awaiter
  };

  /// A lock that is not a cancellation point: async_condition_variable re-acquires the mutex with
  /// it after a wait, also a canceled one.
  class relock_awaiter : public lock_awaiter {
   public:
    explicit relock_awaiter(async_mutex& mutex) noexcept : lock_awaiter(mutex) { cancelable_ = false; }
  };
  friend class async_condition_variable;

  class scoped_lock_awaiter : public lock_awaiter {
   public:
    using lock_awaiter::lock_awaiter;
    lock_guard await_resume() {
      lock_awaiter::await_resume();
      return lock_guard{*mutex_, std::adopt_lock};
    }
  };

  /// Under guard_: takes the mutex if it became free (returns false: do not suspend), else
  /// enqueues `w` (returns true), or finds stop requested (returns false: `w` is canceled).
  /// `w` may be resumed and freed by another thread as soon as guard_ is released, so nothing
  /// here touches it afterwards.
  bool lock_or_enqueue(lock_awaiter& w) noexcept {
    guard_.lock();
    bool armed = false;
    std::uintptr_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s == unlocked) {
        if (state_.compare_exchange_weak(s, locked, std::memory_order_acquire, std::memory_order_relaxed)) {
          guard_.unlock();
          return false;  // taken (if `w` was armed, its cancel finds it unqueued: the lock stands)
        }
        continue;
      }
      if (!armed) {
        if (w.cancelable_ && !w.arm(&lock_awaiter::cancel)) {
          guard_.unlock();
          return false;  // stop was requested: canceled, the mutex untouched
        }
        armed = true;
      }
      if (s == locked_waiters) break;  // only changes under guard_
      // Fails if the owner unlocked meanwhile (or spuriously): look again.
      if (state_.compare_exchange_weak(s, locked_waiters, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
        break;
      }
    }
    waiters_.push_back(w);
    w.queued_ = true;
    guard_.unlock();
    return true;
  }

  void unlock_slow() noexcept {
    guard_.lock();
    auto* next = static_cast<lock_awaiter*>(waiters_.pop_front());
    if (next == nullptr) {
      // The last waiter was canceled after unlock() saw it (its cancel set the state back to
      // locked): unlock again, with the state as the last touch.
      guard_.unlock();
      unlock();
      return;
    }
    next->queued_ = false;
    if (waiters_.empty()) state_.store(locked, std::memory_order_relaxed);
    guard_.unlock();
    next->wake();  // `next` owns the mutex now
  }

  /// Takes `w` out of the list if it is still there (a stop request, or its frame is destroyed
  /// by shutdown); false when unlock() handed it the mutex first.
  bool cancel_wait(lock_awaiter& w) noexcept {
    guard_.lock();
    if (!w.queued_) {
      guard_.unlock();
      return false;
    }
    waiters_.remove(w);
    w.queued_ = false;
    if (waiters_.empty()) state_.store(locked, std::memory_order_relaxed);
    guard_.unlock();
    return true;
  }

  std::atomic<std::uintptr_t> state_{unlocked};
  detail::spin_lock guard_;
  detail::waiter_list waiters_;
};

inline async_mutex::lock_awaiter async_mutex::lock() noexcept {
  return lock_awaiter{*this};
}

inline async_mutex::scoped_lock_awaiter async_mutex::scoped_lock() noexcept {
  return scoped_lock_awaiter{*this};
}

}  // namespace coring
