// coring::async_latch: a single-use countdown that tasks wait on (like std::latch, but waiting
// suspends the task instead of blocking the thread).
//
// Thread safety: every member may be called from any thread, on any pool. When count_down() brings
// the count to zero, every waiting task is woken exactly once and resumes on the pool it waited from;
// `co_await wait()` once the count is zero does not suspend. What a task did before its count_down()
// is visible to every task released by the latch. Lifetime: the latch must outlive every task waiting
// on it (a waiting task destroyed by runtime shutdown unlinks itself).
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <stdexcept>

#include "coring/detail/waiter.hpp"

namespace coring {

class async_latch {
 public:
  class wait_awaiter;

  /// Throws std::invalid_argument when `count` is negative.
  explicit async_latch(std::ptrdiff_t count) : count_(checked_count(count)) {}
  ~async_latch() { assert(waiters_.empty() && "coring::async_latch destroyed while tasks wait on it"); }
  async_latch(const async_latch&) = delete;
  async_latch& operator=(const async_latch&) = delete;

  /// Decrements the count by `n`; the one that reaches zero wakes every waiting task.
  /// Precondition: 0 <= n <= the current count.
  void count_down(std::ptrdiff_t n = 1) noexcept {
    assert(n >= 0 && "async_latch::count_down: negative n");
    if (n == 0) return;
    const std::ptrdiff_t old = count_.fetch_sub(n, std::memory_order_acq_rel);
    assert(old >= n && "async_latch::count_down: below zero");
    if (old != n) return;
    std::unique_lock lock(mutex_);
    detail::waiter* all = waiters_.take_all();
    for (detail::waiter* w = all; w != nullptr; w = w->next_waiter) mark_dequeued(w);
    lock.unlock();
    while (all != nullptr) {
      detail::waiter* next = all->next_waiter;
      all->wake();
      all = next;
    }
  }

  /// True once the count reached zero.
  bool try_wait() const noexcept { return count_.load(std::memory_order_acquire) == 0; }

  /// `co_await l.wait()`: returns once the count is zero.
  [[nodiscard]] wait_awaiter wait() noexcept;

  class [[nodiscard]] wait_awaiter : detail::waiter {
   public:
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() {
      // Still queued only when the waiting task is destroyed (runtime shutdown): unlink.
      if (queued_) {
        std::lock_guard lock(latch_.mutex_);
        if (queued_) latch_.waiters_.remove(*this);
      }
    }

    bool await_ready() const noexcept { return latch_.try_wait(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      async_latch& l = latch_;
      std::lock_guard lock(l.mutex_);
      // The count_down() that reaches zero takes mutex_ afterwards: either it is zero here, or that
      // call finds this waiter in the list.
      if (l.count_.load(std::memory_order_acquire) == 0) return false;
      prepare(awaiting);
      queued_ = true;
      l.waiters_.push_back(*this);
      return true;  // from here on another thread may resume the task: `this` is not touched again
    }
    void await_resume() const noexcept {}

   private:
    friend class async_latch;
    explicit wait_awaiter(async_latch& l) noexcept : latch_(l) {}

    async_latch& latch_;
    bool queued_ = false;  // in latch_.waiters_; guarded by latch_.mutex_
  };

 private:
  static std::ptrdiff_t checked_count(std::ptrdiff_t count) {
    if (count < 0) throw std::invalid_argument("coring::async_latch: count must not be negative");
    return count;
  }
  static void mark_dequeued(detail::waiter* w) noexcept { static_cast<wait_awaiter*>(w)->queued_ = false; }

  std::mutex mutex_;
  std::atomic<std::ptrdiff_t> count_;
  detail::waiter_list waiters_;
};

inline async_latch::wait_awaiter async_latch::wait() noexcept {
  return wait_awaiter{*this};
}

}  // namespace coring
