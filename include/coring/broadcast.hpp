// SPDX-License-Identifier: MIT
// coring::broadcast<T>: a bounded multi-consumer channel where every receiver sees every item
// (like Tokio's broadcast). The broadcast object is the sending side; subscribe() makes receivers.
//
//   coring::broadcast<std::string> news{16};
//   auto rx = news.subscribe();
//   (void)news.send("hello");                       // never waits
//   coring::result<std::string> item = co_await rx.receive();
//
// Items: send() stores a copy-able T in a ring of `capacity` slots and never waits; when the ring
// is full the oldest item is overwritten. A receiver starts with the first item sent after it
// subscribed and sees the items in send order. A receiver that fell so far behind that items it
// had not seen were overwritten is told once, by a receive() that returns the error
// broadcast_lagged(n) (category lagged_category(), value() == n, the exact number it missed,
// capped at INT_MAX; lagged_count(error) reads it), and then continues with the oldest item still
// held. Each receive copies the item (T must be copy constructible); an item stays in its slot
// until it is overwritten or the broadcast is destroyed.
//
// Thread safety: send(), close(), subscribe() from any thread; each receiver is used by one task at
// a time. A waiting receiver resumes on the pool it waited from, never inside send(). Lifetime:
// sender and receivers share one heap state; they may be destroyed in any order and at once after
// what they saw. Destroying the broadcast (or close()) closes it: receivers get what is still held
// for them, then errc::broken_pipe.
//
// Errors (besides broadcast_lagged), in std::generic_category(): broken_pipe (closed and drained;
// send after close), resource_unavailable_try_again (try_receive with nothing new),
// operation_canceled (a canceled receive), invalid_argument (an empty, moved-from receiver).
// Cancellation: `co_await rx.receive()` is a cancellation point, cancel-safe: a canceled receive
// takes nothing (the receiver's position is unchanged). A receive woken by a send before the stop
// request came succeeds.
#pragma once

#include <climits>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

/// The category of broadcast_lagged errors; an error's value() is how many items were missed.
inline const std::error_category& lagged_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coring.broadcast"; }
    std::string message(int n) const override {
      return "receiver lagged behind: " + std::to_string(n) + " items were overwritten before it saw them";
    }
    std::error_condition default_error_condition(int) const noexcept override {
      return std::errc::value_too_large;
    }
  };
  static const category instance;
  return instance;
}

/// The error a lagging receiver gets: it missed `missed` items (capped at INT_MAX).
inline std::error_code broadcast_lagged(std::uint64_t missed) noexcept {
  return {static_cast<int>(missed > INT_MAX ? INT_MAX : missed), lagged_category()};
}

/// How many items a broadcast_lagged error says were missed; 0 for any other error.
inline std::uint64_t lagged_count(std::error_code error) noexcept {
  return error.category() == lagged_category() ? static_cast<std::uint64_t>(error.value()) : 0;
}

template <class T>
class broadcast {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && std::is_copy_constructible_v<T>,
                "broadcast<T> needs a non-const, copy-constructible object type");
  struct state;

 public:
  class receiver;
  class receive_awaiter;

  /// Throws std::invalid_argument when `capacity` is 0.
  explicit broadcast(std::size_t capacity) : state_(std::make_shared<state>(checked(capacity))) {}
  broadcast(broadcast&&) noexcept = default;
  broadcast& operator=(broadcast&& other) noexcept {
    if (this != &other) {
      if (state_) close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~broadcast() {
    if (state_) close();
  }

  /// A receiver that sees every item sent from now on.
  receiver subscribe() {
    std::lock_guard lock(state_->mutex);
    ++state_->receivers;
    return receiver{state_, state_->tail};
  }

  /// Stores `value` for every receiver and wakes the waiting ones; never waits. Returns how many
  /// receivers exist (0 is not an error: nobody will see the item); errc::broken_pipe after close().
  result<std::size_t> send(T value) {
    detail::waiter* to_wake = nullptr;
    std::size_t receivers = 0;
    {
      std::lock_guard lock(state_->mutex);
      state& s = *state_;
      if (s.closed) return std::make_error_code(std::errc::broken_pipe);
      s.slots[s.tail % s.slots.size()].emplace(std::move(value));  // a throw changes nothing
      ++s.tail;
      to_wake = s.take_waiters_locked();
      receivers = s.receivers;
    }
    state::wake_chain(to_wake);
    return receivers;
  }

  /// Closes (idempotent): waiting receivers wake, and each gets what is still held for it, then
  /// errc::broken_pipe.
  void close() noexcept {
    detail::waiter* to_wake = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      state_->closed = true;
      to_wake = state_->take_waiters_locked();
    }
    state::wake_chain(to_wake);
  }

  std::size_t capacity() const noexcept { return state_->slots.size(); }
  std::size_t receiver_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->receivers;
  }

  class receiver {
   public:
    receiver() noexcept = default;
    receiver(receiver&& other) noexcept : state_(std::move(other.state_)), next_(other.next_) {}
    receiver& operator=(receiver&& other) noexcept {
      if (this != &other) {
        reset();
        state_ = std::move(other.state_);
        next_ = other.next_;
      }
      return *this;
    }
    ~receiver() { reset(); }

    /// `co_await rx.receive()` -> result<T>: the next item, waiting while there is none.
    [[nodiscard]] receive_awaiter receive() noexcept { return receive_awaiter{*this}; }
    /// The next item without waiting; errc::resource_unavailable_try_again if there is none.
    result<T> try_receive() {
      if (!state_) return std::make_error_code(std::errc::invalid_argument);
      std::lock_guard lock(state_->mutex);
      return take_locked();
    }
    /// Items sent that this receiver has not seen yet (including ones it already lost).
    std::uint64_t pending() const {
      if (!state_) return 0;
      std::lock_guard lock(state_->mutex);
      return state_->tail - next_;
    }
    /// A new receiver at the same position.
    receiver clone() const {
      if (!state_) return receiver{};
      std::lock_guard lock(state_->mutex);
      ++state_->receivers;
      return receiver{state_, next_};
    }
    void reset() noexcept {
      if (state_) {
        {
          std::lock_guard lock(state_->mutex);
          --state_->receivers;
        }
        state_.reset();
      }
    }

   private:
    friend class broadcast;
    receiver(std::shared_ptr<state> s, std::uint64_t next) noexcept : state_(std::move(s)), next_(next) {}

    /// Under the state's mutex: the next item, a lag report, broken_pipe or try-again.
    result<T> take_locked() {
      state& s = *state_;
      const std::uint64_t oldest = s.tail > s.slots.size() ? s.tail - s.slots.size() : 0;
      if (next_ < oldest) {
        const std::uint64_t missed = oldest - next_;
        next_ = oldest;
        return broadcast_lagged(missed);
      }
      if (next_ == s.tail) {
        return std::make_error_code(s.closed ? std::errc::broken_pipe
                                             : std::errc::resource_unavailable_try_again);
      }
      result<T> item(*s.slots[next_ % s.slots.size()]);  // a throw leaves the position as it was
      ++next_;
      return item;
    }

    std::shared_ptr<state> state_;
    std::uint64_t next_ = 0;  // sequence number of the next item to receive; under the mutex
  };

  /// The awaiter of receive(). Woken by a send (or close), it takes the item in await_resume.
  class [[nodiscard]] receive_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"broadcast receive"}; }

    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() {
      disarm();
      if (queued_) {  // destroyed while parked (runtime shutdown)
        std::lock_guard lock(rx_.state_->mutex);
        if (queued_) rx_.state_->waiters.remove(*this);
      }
    }

    bool await_ready() const noexcept { return !rx_.state_; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      state& s = *rx_.state_;
      std::lock_guard lock(s.mutex);
      result<T> r = rx_.take_locked();
      if (r || r.error() != std::errc::resource_unavailable_try_again) {
        item_.emplace(std::move(r));
        return yield_if_out_of_budget(awaiting);
      }
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: nothing taken
      s.waiters.push_back(*this);
      queued_ = true;
      return true;  // from here on another thread may resume the task
    }
    result<T> await_resume() {
      if (!rx_.state_) return std::make_error_code(std::errc::invalid_argument);
      if (disarm()) return std::make_error_code(std::errc::operation_canceled);
      if (item_) return std::move(*item_);
      std::lock_guard lock(rx_.state_->mutex);  // woken: an item (or a lag, or close) is there
      return rx_.take_locked();
    }

   private:
    friend class broadcast;
    explicit receive_awaiter(receiver& rx) noexcept : rx_(rx) {}
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<receive_awaiter&>(w);
      {
        std::lock_guard lock(self.rx_.state_->mutex);
        if (!self.queued_) return;  // a send woke it first: the receive stands
        self.rx_.state_->waiters.remove(self);
        self.queued_ = false;
      }
      self.canceled_by_stop();
    }

    receiver& rx_;
    std::optional<result<T>> item_;  // taken without suspending
    bool queued_ = false;            // in the state's waiters; under its mutex
  };

 private:
  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("coring::broadcast: capacity must be at least 1");
    return capacity;
  }

  struct state {
    explicit state(std::size_t capacity) : slots(capacity) {}
    mutable std::mutex mutex;
    std::vector<std::optional<T>> slots;  // item with sequence number n is in slots[n % size]
    std::uint64_t tail = 0;               // sequence number of the next item sent
    std::size_t receivers = 0;
    bool closed = false;
    detail::waiter_list waiters;  // receive_awaiters parked on an empty position

    detail::waiter* take_waiters_locked() noexcept {
      detail::waiter* all = waiters.take_all();
      for (detail::waiter* w = all; w != nullptr; w = w->next_waiter)
        static_cast<receive_awaiter*>(w)->queued_ = false;
      return all;
    }
    static void wake_chain(detail::waiter* w) noexcept {
      while (w != nullptr) {
        detail::waiter* next = w->next_waiter;  // before wake(): the task may free `w`
        w->wake();
        w = next;
      }
    }
  };

  std::shared_ptr<state> state_;
};

}  // namespace coring
