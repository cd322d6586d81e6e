// SPDX-License-Identifier: MIT
// waiter: a task suspended on a synchronization primitive (mutex, semaphore, event, channel...).
//
// A primitive keeps its waiters in an intrusive list (`prev`/`next_waiter`, guarded by the
// primitive's own lock) and wakes one with wake(), which queues the task on the pool it waited
// from (the affinity rule). wake() never resumes inline: the waker may hold the primitive's lock
// or run on another pool. Before a waiter is published to other threads, prepare() must be called
// from await_suspend: it records the task, its home, and enters the task's tree in the runtime's
// registry (so shutdown can destroy a task parked on a primitive).
#pragma once

#include <coroutine>

#include "coring/detail/scheduler.hpp"
#include "coring/task.hpp"

namespace coring::detail {

struct waiter : resume_item {
  scheduler* home = nullptr;
  waiter* prev = nullptr;
  waiter* next_waiter = nullptr;

  template <class Promise>
  void prepare(std::coroutine_handle<Promise> awaiting) noexcept {
    before_suspend(root_of(awaiting));
    handle = awaiting;
    home = current_scheduler();
  }

  /// Resumes the waiting task on its home pool (inline only when it has no home: a task driven by
  /// hand outside any runtime).
  void wake() noexcept {
    if (home != nullptr) {
      home->schedule(this);
    } else {
      handle.resume();
    }
  }
};

/// FIFO list of waiters; not thread-safe (the primitive's lock guards it).
class waiter_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(waiter& w) noexcept {
    w.next_waiter = nullptr;
    w.prev = tail_;
    if (tail_ != nullptr) {
      tail_->next_waiter = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
  }
  waiter* pop_front() noexcept {
    waiter* w = head_;
    if (w != nullptr) remove(*w);
    return w;
  }
  void remove(waiter& w) noexcept {
    if (w.prev != nullptr) {
      w.prev->next_waiter = w.next_waiter;
    } else {
      head_ = w.next_waiter;
    }
    if (w.next_waiter != nullptr) {
      w.next_waiter->prev = w.prev;
    } else {
      tail_ = w.prev;
    }
    w.prev = w.next_waiter = nullptr;
  }
  /// Takes the whole list (to wake everyone outside the lock). Read each waiter's next_waiter
  /// before calling its wake(): once woken, its task may run and free the waiter at once.
  waiter* take_all() noexcept {
    waiter* all = head_;
    head_ = tail_ = nullptr;
    return all;
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

}  // namespace coring::detail
