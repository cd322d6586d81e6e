// SPDX-License-Identifier: MIT
// coring::channel<T>: a bounded multi-producer multi-consumer queue of T between tasks.
//
// Thread safety: every member may be called from any thread, on any pool. `co_await send(v)` waits
// while the channel is full, `co_await receive()` while it is empty; a waiting task resumes on the
// pool it waited from. Items come out in the order their sends completed; each successful send is
// received exactly once. After close(), sends fail with errc::broken_pipe (their item is dropped) and
// receives still get the buffered items, then errc::broken_pipe. Lifetime: the channel must outlive
// every task waiting on it (a waiting task destroyed by runtime shutdown unlinks itself); a task
// that saw the channel closed (is_closed()) may destroy it at once, even while close() still runs.
//
// Cancellation: `co_await send(v)` and `co_await receive()` are cancellation points. A stop request
// for a waiting task (join_handle::cancel(), a when_any/timeout it lost...) resumes it with
// errc::operation_canceled as its result; so does a send to a full (receive from an empty) open
// channel that begins after stop was requested. An operation that can complete at once still
// completes after a stop request (it does not suspend). Cancel-safe, like Tokio's mpsc:
//   - a canceled receive() consumed no item: every item stays in the channel for the next receiver;
//   - a canceled send() delivered nothing: its item is dropped with the awaiter (not in the channel);
//   - which one wins, the item or the cancellation, is decided under the channel's lock: a receive
//     that was handed an item (a send that got a slot) before the stop request came succeeds.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

/// Errors, all in std::generic_category():
///   errc::broken_pipe                      the channel is closed (receive: closed and drained)
///   errc::resource_unavailable_try_again   try_send on a full / try_receive on an empty open channel
///   errc::operation_canceled               a waiting send or receive was canceled (see the top)
/// If T's move (or copy) constructor throws, the exception leaves the operation that was moving the
/// item and the channel stays consistent: a send that throws sent nothing, a receive that throws
/// left the item buffered, and a waiting sender whose item could not be moved into the buffer gets
/// the exception from its co_await send(). (Only a throw from the last move, out of co_await
/// receive(), loses its item.)
template <class T>
class channel {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> && !std::is_array_v<T>,
                "channel<T> needs a non-const, non-array object type");
  static_assert(std::is_move_constructible_v<T>, "channel<T> needs a move-constructible T");

 public:
  class send_awaiter;
  class receive_awaiter;

  /// Throws std::invalid_argument when `capacity` is 0.
  explicit channel(std::size_t capacity) : slots_(checked_capacity(capacity)) {}
  ~channel() {
    late_.wait_idle();
    assert(senders_.empty() && receivers_.empty() && "coring::channel destroyed while tasks wait on it");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// `co_await ch.send(v)` -> result<void>: enqueues v (or hands it straight to a waiting receiver),
  /// waiting while the channel is full; errc::broken_pipe if the channel is or gets closed first.
  [[nodiscard]] send_awaiter send(T value) { return send_awaiter{*this, std::move(value)}; }

  /// `co_await ch.receive()` -> result<T>: the oldest item, waiting while the channel is empty;
  /// errc::broken_pipe once the channel is closed and no item is left.
  [[nodiscard]] receive_awaiter receive() noexcept { return receive_awaiter{*this}; }

  /// Sends without waiting. On failure `value` is left untouched.
  result<void> try_send(T&& value) { return try_send_impl(std::move(value)); }
  result<void> try_send(const T& value) requires std::is_copy_constructible_v<T> {
    return try_send_impl(value);
  }

  /// Receives without waiting.
  result<T> try_receive() {
    std::unique_lock lock(mutex_);
    if (count() == 0) return closed_.load(std::memory_order_relaxed) ? closed_error() : would_block_error();
    result<T> item(std::move(*slots_[head_]));
    pop_front_locked();
    detail::waiter* to_wake = refill_locked();
    lock.unlock();
    wake_chain(to_wake);
    return item;
  }

  /// Closes the channel (idempotent): waiting senders resume with errc::broken_pipe and their items
  /// are not enqueued; waiting receivers (there are some only while the buffer is empty) resume
  /// with errc::broken_pipe. Items already buffered stay receivable.
  void close() noexcept {
    detail::late_touches::scope busy(late_);  // a task that sees closed_ may destroy the channel
    std::unique_lock lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return;
    closed_.store(true, std::memory_order_release);
    detail::waiter* senders = senders_.take_all();
    detail::waiter* receivers = receivers_.take_all();
    for (detail::waiter* w = senders; w != nullptr; w = w->next_waiter) {
      auto* s = static_cast<send_awaiter*>(w);
      s->queued_ = false;
      s->was_closed_ = true;
    }
    for (detail::waiter* w = receivers; w != nullptr; w = w->next_waiter) {
      static_cast<receive_awaiter*>(w)->queued_ = false;
    }
    lock.unlock();
    wake_chain(senders);
    wake_chain(receivers);
  }

  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  /// Items buffered now (may be stale by the time it returns). Items handed straight from a sender
  /// to a waiting receiver are never counted.
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return slots_.size(); }

  /// The awaiter of send(): holds the item until it is enqueued or handed over.
  class [[nodiscard]] send_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"channel send"}; }

    send_awaiter(const send_awaiter&) = delete;
    send_awaiter& operator=(const send_awaiter&) = delete;
    ~send_awaiter() {
      disarm();
      // Still queued only when the waiting task is destroyed (runtime shutdown): unlink.
      if (queued_) {
        std::lock_guard lock(channel_.mutex_);
        if (queued_) channel_.senders_.remove(*this);
      }
    }

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      channel& ch = channel_;
      std::unique_lock lock(ch.mutex_);
      if (ch.closed_.load(std::memory_order_relaxed)) {
        was_closed_ = true;
        return false;
      }
      if (!ch.receivers_.empty()) {
        receive_awaiter* receiver = ch.hand_off_locked(std::move(value_));
        lock.unlock();
        receiver->wake();
        return yield_if_out_of_budget(awaiting);
      }
      if (ch.count() < ch.capacity()) {
        ch.push_back_locked(std::move(value_));
        lock.unlock();
        return yield_if_out_of_budget(awaiting);
      }
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: canceled, nothing sent
      queued_ = true;
      ch.senders_.push_back(*this);
      return true;  // from here on another thread may resume the task: `this` is not touched again
    }
    result<void> await_resume() {
      if (disarm()) return canceled_error();
      if (error_) std::rethrow_exception(error_);
      if (was_closed_) return closed_error();
      return {};
    }

   private:
    friend class channel;
    send_awaiter(channel& ch, T&& value) : channel_(ch), value_(std::move(value)) {}

    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<send_awaiter&>(w);
      std::unique_lock lock(self.channel_.mutex_);
      if (!self.queued_) return;  // a receiver took the item first (or close() came): it stands
      self.channel_.senders_.remove(self);
      self.queued_ = false;
      lock.unlock();
      self.canceled_by_stop();
    }

    channel& channel_;
    T value_;
    std::exception_ptr error_;  // T's move constructor threw while a receiver took this item
    bool queued_ = false;       // in channel_.senders_; guarded by channel_.mutex_
    bool was_closed_ = false;   // refused or woken by close(): the item was not enqueued
  };

  /// The awaiter of receive(): the item is moved into it, then out by co_await.
  class [[nodiscard]] receive_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"channel receive"}; }

    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() {
      disarm();
      if (queued_) {  // see ~send_awaiter
        std::lock_guard lock(channel_.mutex_);
        if (queued_) channel_.receivers_.remove(*this);
      }
    }

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      channel& ch = channel_;
      std::unique_lock lock(ch.mutex_);
      if (ch.count() > 0) {
        item_.emplace(std::move(*ch.slots_[ch.head_]));
        ch.pop_front_locked();
        detail::waiter* to_wake = ch.refill_locked();
        lock.unlock();
        wake_chain(to_wake);
        return yield_if_out_of_budget(awaiting);
      }
      if (ch.closed_.load(std::memory_order_relaxed)) return false;  // closed and drained
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: canceled, nothing taken
      queued_ = true;
      ch.receivers_.push_back(*this);
      return true;  // from here on another thread may resume the task: `this` is not touched again
    }
    result<T> await_resume() {
      if (disarm()) return canceled_error();
      if (!item_) return closed_error();
      return result<T>(std::move(*item_));
    }

   private:
    friend class channel;
    explicit receive_awaiter(channel& ch) noexcept : channel_(ch) {}

    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<receive_awaiter&>(w);
      std::unique_lock lock(self.channel_.mutex_);
      if (!self.queued_) return;  // a sender handed it an item first (or close() came): it stands
      self.channel_.receivers_.remove(self);
      self.queued_ = false;
      lock.unlock();
      self.canceled_by_stop();
    }

    channel& channel_;
    std::optional<T> item_;  // filled under channel_.mutex_ by this task or by a sender
    bool queued_ = false;    // in channel_.receivers_; guarded by channel_.mutex_
  };

 private:
  static std::size_t checked_capacity(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("coring::channel: capacity must be at least 1");
    return capacity;
  }
  static std::error_code closed_error() noexcept { return std::make_error_code(std::errc::broken_pipe); }
  static std::error_code canceled_error() noexcept {
    return std::make_error_code(std::errc::operation_canceled);
  }
  static std::error_code would_block_error() noexcept {
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }

  // Invariants, under mutex_: senders_ is non-empty only while the buffer is full and the channel
  // open; receivers_ only while the buffer is empty and the channel open.

  std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

  template <class U>
  result<void> try_send_impl(U&& value) {
    std::unique_lock lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return closed_error();
    if (!receivers_.empty()) {
      receive_awaiter* receiver = hand_off_locked(std::forward<U>(value));
      lock.unlock();
      receiver->wake();
      return {};
    }
    if (count() == capacity()) return would_block_error();
    push_back_locked(std::forward<U>(value));
    return {};
  }

  /// Gives `value` to the first waiting receiver and returns it, to be woken after unlocking. If
  /// constructing the item throws, the receiver stays queued (at the back) and the exception leaves.
  template <class U>
  receive_awaiter* hand_off_locked(U&& value) {
    auto* receiver = static_cast<receive_awaiter*>(receivers_.pop_front());
    try {
      receiver->item_.emplace(std::forward<U>(value));
    } catch (...) {
      receivers_.push_back(*receiver);
      throw;
    }
    receiver->queued_ = false;
    return receiver;
  }

  template <class U>
  void push_back_locked(U&& value) {
    const std::size_t n = count();
    std::size_t tail = head_ + n;
    if (tail >= capacity()) tail -= capacity();
    slots_[tail].emplace(std::forward<U>(value));  // if this throws, nothing changed
    count_.store(n + 1, std::memory_order_relaxed);
  }

  void pop_front_locked() noexcept {
    slots_[head_].reset();
    if (++head_ == capacity()) head_ = 0;
    count_.store(count() - 1, std::memory_order_relaxed);
  }

  /// After items left the buffer: moves waiting senders' items into the free slots, oldest sender
  /// first. Returns the chain (through next_waiter) of senders to wake after unlocking.
  detail::waiter* refill_locked() noexcept {
    detail::waiter* to_wake = nullptr;
    while (count() < capacity() && !senders_.empty()) {
      auto* sender = static_cast<send_awaiter*>(senders_.pop_front());
      sender->queued_ = false;
      try {
        push_back_locked(std::move(sender->value_));
      } catch (...) {
        sender->error_ = std::current_exception();  // this send fails; try the next sender
      }
      sender->next_waiter = to_wake;
      to_wake = sender;
    }
    return to_wake;
  }

  /// Wakes a chain of waiters taken off a list (reading each next_waiter before its wake()).
  static void wake_chain(detail::waiter* w) noexcept {
    while (w != nullptr) {
      detail::waiter* next = w->next_waiter;
      w->wake();
      w = next;
    }
  }

  std::mutex mutex_;
  std::vector<std::optional<T>> slots_;  // ring buffer: count_ items from head_, wrapping
  std::size_t head_ = 0;
  std::atomic<std::size_t> count_{0};  // written under mutex_; read without it by size()
  std::atomic<bool> closed_{false};    // written under mutex_; read without it by is_closed()
  detail::waiter_list senders_;
  detail::waiter_list receivers_;
  detail::late_touches late_;  // last member: destroyed (waited for) before the others
};

}  // namespace coring
