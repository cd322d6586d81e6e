// SPDX-License-Identifier: MIT
// coring::unbounded_channel<T>: a multi-producer multi-consumer queue of T between tasks whose
// send never waits (the queue grows as needed; memory is the only bound, so prefer the bounded
// coring::channel<T> where a slow consumer must slow its producers down).
//
// Thread safety: every member may be called from any thread, on any pool. send(v) is a plain call
// (no co_await): it hands v to a waiting receiver or appends it. `co_await receive()` waits while
// the channel is empty; a waiting task resumes on the pool it waited from, never inside send().
// Items come out in the order their sends completed; each successful send is received exactly
// once. After close(), sends fail with errc::broken_pipe (their item is dropped) and receives still
// get the buffered items, then errc::broken_pipe. Lifetime: the channel must outlive every task
// waiting on it (a waiting task destroyed by runtime shutdown unlinks itself); a task that saw the
// channel closed (is_closed()) may destroy it at once, even while close() still runs.
//
// Cancellation: `co_await receive()` is a cancellation point, cancel-safe as channel<T>'s: a
// stop request for a waiting task resumes it with errc::operation_canceled and it consumed no
// item; a receive handed an item before the stop request came succeeds.
// Errors, in std::generic_category(): broken_pipe (closed; receive: closed and drained),
// resource_unavailable_try_again (try_receive on an empty open channel), operation_canceled.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

template <class T>
class unbounded_channel {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T> &&
                    std::is_move_constructible_v<T>,
                "unbounded_channel<T> needs a non-const, move-constructible object type");

 public:
  class receive_awaiter;

  unbounded_channel() = default;
  ~unbounded_channel() {
    late_.wait_idle();
    assert(receivers_.empty() && "coring::unbounded_channel destroyed while tasks wait on it");
  }
  unbounded_channel(const unbounded_channel&) = delete;
  unbounded_channel& operator=(const unbounded_channel&) = delete;

  /// Enqueues `value` (or hands it to the longest-waiting receiver); never waits.
  /// errc::broken_pipe if the channel is closed (the value is dropped).
  result<void> send(T value) {
    std::unique_lock lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return closed_error();
    if (!receivers_.empty()) {
      auto* receiver = static_cast<receive_awaiter*>(receivers_.pop_front());
      try {
        receiver->item_.emplace(std::move(value));
      } catch (...) {
        receivers_.push_back(*receiver);
        throw;
      }
      receiver->queued_ = false;
      lock.unlock();
      static_cast<detail::waiter*>(receiver)->wake();
      return {};
    }
    items_.push_back(std::move(value));  // a throw changes nothing
    size_.store(items_.size(), std::memory_order_relaxed);
    return {};
  }

  /// `co_await ch.receive()` -> result<T>: the oldest item, waiting while the channel is empty.
  [[nodiscard]] receive_awaiter receive() noexcept { return receive_awaiter{*this}; }

  /// Receives without waiting.
  result<T> try_receive() {
    std::lock_guard lock(mutex_);
    if (items_.empty()) {
      return std::make_error_code(closed_.load(std::memory_order_relaxed)
                                      ? std::errc::broken_pipe
                                      : std::errc::resource_unavailable_try_again);
    }
    return pop_locked();
  }

  /// Closes (idempotent): waiting receivers resume with errc::broken_pipe; buffered items stay.
  void close() noexcept {
    detail::late_touches::scope busy(late_);  // a task that sees closed_ may destroy the channel
    std::unique_lock lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return;
    closed_.store(true, std::memory_order_release);
    detail::waiter* all = receivers_.take_all();
    for (detail::waiter* w = all; w != nullptr; w = w->next_waiter)
      static_cast<receive_awaiter*>(w)->queued_ = false;
    lock.unlock();
    while (all != nullptr) {
      detail::waiter* next = all->next_waiter;  // before wake(): the task may free `all`
      all->wake();
      all = next;
    }
  }

  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  /// Items buffered now (a snapshot).
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

  class [[nodiscard]] receive_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"channel receive"}; }

    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() {
      disarm();
      if (queued_) {  // destroyed while parked (runtime shutdown)
        std::lock_guard lock(channel_.mutex_);
        if (queued_) channel_.receivers_.remove(*this);
      }
    }

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      unbounded_channel& ch = channel_;
      std::unique_lock lock(ch.mutex_);
      if (!ch.items_.empty()) {
        item_.emplace(ch.pop_locked());
        lock.unlock();
        return yield_if_out_of_budget(awaiting);
      }
      if (ch.closed_.load(std::memory_order_relaxed)) return false;  // closed and drained
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: nothing taken
      queued_ = true;
      ch.receivers_.push_back(*this);
      return true;  // from here on another thread may resume the task
    }
    result<T> await_resume() {
      if (disarm()) return std::make_error_code(std::errc::operation_canceled);
      if (!item_) return closed_error();
      return result<T>(std::move(*item_));
    }

   private:
    friend class unbounded_channel;
    explicit receive_awaiter(unbounded_channel& ch) noexcept : channel_(ch) {}
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<receive_awaiter&>(w);
      {
        std::lock_guard lock(self.channel_.mutex_);
        if (!self.queued_) return;  // a sender handed it an item first (or close() came): it stands
        self.channel_.receivers_.remove(self);
        self.queued_ = false;
      }
      self.canceled_by_stop();
    }

    unbounded_channel& channel_;
    std::optional<T> item_;  // filled under the channel's mutex
    bool queued_ = false;    // in receivers_; under the channel's mutex
  };

 private:
  static std::error_code closed_error() noexcept { return std::make_error_code(std::errc::broken_pipe); }

  T pop_locked() {
    T item(std::move(items_.front()));  // a throw leaves the item buffered
    items_.pop_front();
    size_.store(items_.size(), std::memory_order_relaxed);
    return item;
  }

  // Invariant, under mutex_: receivers_ is non-empty only while items_ is empty and the channel open.
  std::mutex mutex_;
  std::deque<T> items_;
  std::atomic<std::size_t> size_{0};  // written under mutex_; read by size()
  std::atomic<bool> closed_{false};   // written under mutex_; read by is_closed()
  detail::waiter_list receivers_;
  detail::late_touches late_;  // last member: destroyed (waited for) before the others
};

}  // namespace coring
