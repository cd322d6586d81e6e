// SPDX-License-Identifier: MIT
// coring::async_shared_mutex: a readers/writer lock for tasks; waiting suspends the task, never the
// thread.
//
// Thread safety: any thread may lock, unlock or try either kind; ownership is not tied to a thread.
// Policy: writer-preferring and FIFO among writers. A lock_shared() (or try_lock_shared()) that
// finds a writer holding or waiting for the mutex waits, so a stream of readers cannot starve a
// writer; unlock() hands the mutex to the longest-waiting writer if there is one, else admits
// every waiting reader at once; the last unlock_shared() hands it to the first waiting writer.
// (Readers can starve under a never-ending stream of writers: that is what the policy means.)
// Nobody barges: try_lock() fails while a writer waits, try_lock_shared() while any writer
// waits or holds it. A waiter resumes on the pool it waited from, queued there, never inside an
// unlock (only a task run by hand outside any runtime resumes inline). Every change happens under
// one spin lock: an uncontended lock or unlock is one lock/unlock pair of it.
// Lifetime: the mutex must outlive the tasks parked on it (a task destroyed by runtime shutdown
// unlinks itself); a task that took the mutex may destroy it at once, even while the unlock that
// handed it over still runs (the unlock touches only the woken waiters after its guard).
//
// Cancellation: `co_await lock()` and `co_await lock_shared()` are cancellation points, like
// async_mutex::lock(): a stop request for a waiting task resumes it with
// std::system_error(errc::operation_canceled), owning nothing; so does a lock that begins after
// stop was requested while the mutex is not free for it. Cancel-safe: a canceled lock never leaves
// the mutex held, and a canceled writer that kept readers waiting (writer preference) lets them in.
// If an unlock handed the mutex to the task before the stop request came, the lock succeeds.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <utility>

#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"

namespace coring {

class async_shared_mutex {
  class lock_awaiter;

 public:
  /// Unlocks (exclusive or shared, as taken) when destroyed, if it still owns the mutex.
  /// Move-only; one guard is used by one task at a time.
  template <bool Shared>
  class basic_guard {
   public:
    basic_guard() noexcept = default;
    /// Takes over a lock the caller already holds (e.g. after a successful try_lock()).
    basic_guard(async_shared_mutex& mutex, std::adopt_lock_t) noexcept : mutex_(&mutex) {}
    basic_guard(basic_guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    basic_guard& operator=(basic_guard&& other) noexcept {
      if (this != &other) {
        reset();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    basic_guard(const basic_guard&) = delete;
    basic_guard& operator=(const basic_guard&) = delete;
    ~basic_guard() { reset(); }

    bool owns_lock() const noexcept { return mutex_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    /// Unlocks before the end of the scope; the guard then owns nothing.
    void unlock() noexcept {
      assert(mutex_ != nullptr && "async_shared_mutex guard: unlock of a guard that owns no lock");
      reset();
    }

   private:
    void reset() noexcept {
      if (async_shared_mutex* m = std::exchange(mutex_, nullptr)) {
        if constexpr (Shared) {
          m->unlock_shared();
        } else {
          m->unlock();
        }
      }
    }

    async_shared_mutex* mutex_ = nullptr;
  };
  using unique_guard = basic_guard<false>;
  using shared_guard = basic_guard<true>;

  /// The awaiter of lock() / lock_shared(); co_await gives the guard.
  template <bool Shared>
  class guard_awaiter;

  async_shared_mutex() noexcept = default;
  async_shared_mutex(const async_shared_mutex&) = delete;
  async_shared_mutex& operator=(const async_shared_mutex&) = delete;
  ~async_shared_mutex() {
    assert(writers_.empty() && readers_waiting_.empty() &&
           "coring::async_shared_mutex destroyed with waiters");
  }

  /// `auto guard = co_await m.lock()`: exclusive ownership, released by the guard.
  [[nodiscard]] guard_awaiter<false> lock() noexcept;
  /// `auto guard = co_await m.lock_shared()`: shared ownership, released by the guard.
  [[nodiscard]] guard_awaiter<true> lock_shared() noexcept;

  /// Exclusive ownership if nobody holds the mutex and no writer waits; never suspends.
  bool try_lock() noexcept {
    std::lock_guard g(guard_);
    if (writer_ || readers_ != 0 || !writers_.empty()) return false;
    writer_ = true;
    return true;
  }
  /// Shared ownership if no writer holds or waits for the mutex; never suspends.
  bool try_lock_shared() noexcept {
    std::lock_guard g(guard_);
    if (writer_ || !writers_.empty()) return false;
    ++readers_;
    return true;
  }

  /// Releases exclusive ownership (by its owner; a guard does it for you).
  void unlock() noexcept {
    guard_.lock();
    assert(writer_ && "async_shared_mutex::unlock: not locked exclusively");
    writer_ = false;
    detail::waiter* to_wake = hand_over_locked();
    guard_.unlock();
    wake_chain(to_wake);
  }
  /// Releases one shared ownership.
  void unlock_shared() noexcept {
    guard_.lock();
    assert(readers_ > 0 && "async_shared_mutex::unlock_shared: not locked shared");
    --readers_;
    detail::waiter* to_wake = readers_ == 0 ? hand_over_locked() : nullptr;
    guard_.unlock();
    wake_chain(to_wake);
  }

 private:
  // The waiter, in the awaiting frame. `queued_` (under guard_) says it is in a list; whoever
  // clears it under guard_ decides how the wait ends: hand_over_locked() (the task owns the
  // mutex), the cancel function (operation_canceled) or the destructor (shutdown).
  class lock_awaiter : public detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"shared mutex lock"}; }

    lock_awaiter(async_shared_mutex& m, bool shared) noexcept : mutex_(&m), shared_(shared) {}
    lock_awaiter(const lock_awaiter&) = delete;
    lock_awaiter& operator=(const lock_awaiter&) = delete;
    ~lock_awaiter() {
      disarm();
      if (queued_) mutex_->cancel_wait(*this);
    }

    bool await_ready() noexcept {
      return detail::coop_spend() && (shared_ ? mutex_->try_lock_shared() : mutex_->try_lock());
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      prepare(awaiting);
      return mutex_->lock_or_enqueue(*this) || requeue_if_out_of_budget();
    }

   protected:
    void check_resume() {
      if (disarm()) throw_canceled();
    }
    async_shared_mutex* mutex_;

   private:
    friend class async_shared_mutex;
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<lock_awaiter&>(w);
      if (self.mutex_->cancel_wait(self)) self.canceled_by_stop();
    }

    bool shared_;
    bool queued_ = false;
  };

 public:
  template <bool Shared>
  class [[nodiscard]] guard_awaiter : public lock_awaiter {
   public:
    explicit guard_awaiter(async_shared_mutex& m) noexcept : lock_awaiter(m, Shared) {}
    /// Throws std::system_error(errc::operation_canceled) when a stop request ended the wait.
    basic_guard<Shared> await_resume() {
      check_resume();
      return basic_guard<Shared>{*mutex_, std::adopt_lock};
    }
  };

 private:
  /// Under guard_: takes the mutex if it is free for `w` (false: do not suspend), else enqueues
  /// `w` (true), or finds stop requested (false: `w` is canceled). Nothing here touches `w` after
  /// guard_ is released.
  bool lock_or_enqueue(lock_awaiter& w) noexcept {
    std::lock_guard g(guard_);
    if (w.shared_) {
      if (!writer_ && writers_.empty()) {
        ++readers_;
        return false;
      }
    } else if (!writer_ && readers_ == 0 && writers_.empty()) {
      writer_ = true;
      return false;
    }
    if (!w.arm(&lock_awaiter::cancel)) return false;  // stop was requested: nothing taken
    (w.shared_ ? readers_waiting_ : writers_).push_back(w);
    w.queued_ = true;
    return true;
  }

  /// Under guard_, once the mutex may be free: the first waiting writer if nobody holds it, else
  /// (no writer holds or waits) every waiting reader. Returns the chain to wake after unlocking.
  detail::waiter* hand_over_locked() noexcept {
    if (writer_) return nullptr;
    if (!writers_.empty()) {
      if (readers_ != 0) return nullptr;
      auto* w = static_cast<lock_awaiter*>(writers_.pop_front());
      w->queued_ = false;
      w->next_waiter = nullptr;
      writer_ = true;
      return w;
    }
    detail::waiter* all = readers_waiting_.take_all();
    for (detail::waiter* r = all; r != nullptr; r = r->next_waiter) {
      static_cast<lock_awaiter*>(r)->queued_ = false;
      ++readers_;
    }
    return all;
  }

  /// Takes `w` out of its list if it is still there; false when it was handed the mutex first.
  /// A writer leaving may let the readers it held back in.
  bool cancel_wait(lock_awaiter& w) noexcept {
    guard_.lock();
    if (!w.queued_) {
      guard_.unlock();
      return false;
    }
    (w.shared_ ? readers_waiting_ : writers_).remove(w);
    w.queued_ = false;
    detail::waiter* to_wake = w.shared_ ? nullptr : hand_over_locked();
    guard_.unlock();
    wake_chain(to_wake);
    return true;
  }

  static void wake_chain(detail::waiter* w) noexcept {
    while (w != nullptr) {
      detail::waiter* next = w->next_waiter;  // before wake(): the task may free `w`
      w->wake();
      w = next;
    }
  }

  detail::spin_lock guard_;
  // Under guard_:
  std::size_t readers_ = 0;  // shared owners
  bool writer_ = false;      // an exclusive owner
  detail::waiter_list writers_;
  detail::waiter_list readers_waiting_;
};

inline async_shared_mutex::guard_awaiter<false> async_shared_mutex::lock() noexcept {
  return guard_awaiter<false>{*this};
}
inline async_shared_mutex::guard_awaiter<true> async_shared_mutex::lock_shared() noexcept {
  return guard_awaiter<true>{*this};
}

}  // namespace coring
