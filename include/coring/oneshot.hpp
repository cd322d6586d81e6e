// SPDX-License-Identifier: MIT
// coring::oneshot<T>: one value sent once from one sender to one receiver (like Tokio's oneshot).
//
//   auto [tx, rx] = coring::oneshot<int>::make();
//   coring::spawn(rt.cpu(), [](coring::oneshot<int>::sender tx) -> coring::task<void> {
//     (void)tx.send(42);
//   }(std::move(tx))).detach();
//   coring::result<int> v = co_await rx.receive();   // 42, or errc::broken_pipe
//
// The two halves share one heap state and may live anywhere, on any thread, in any order; each is
// move-only and used by one task at a time. send() never waits. The receiver gets the value, or
// errc::broken_pipe once the sender was destroyed (or reset) without sending ("sender dropped").
// A send after the receiver went fails with errc::broken_pipe (the value is dropped). The
// receiving task resumes on the pool it waited from, never inside send(). Errors, all in
// std::generic_category(): broken_pipe (the other half is gone), resource_unavailable_try_again
// (try_receive before the value came), operation_canceled (see below), invalid_argument (an empty
// (moved-from) half, or a second receive after the value was taken).
//
// Cancellation: `co_await rx.receive()` is a cancellation point, cancel-safe: a stop request for
// the waiting task resumes it with errc::operation_canceled, and a value that arrives later stays
// for the next receive(). A value sent before the stop request came is received.
// Lifetime: the state goes with the last half; a half may be destroyed as soon as its task saw
// the other's send or drop.
#pragma once

#include <atomic>
#include <coroutine>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

template <class T>
class oneshot {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && std::is_move_constructible_v<T>,
                "oneshot<T> needs a non-const, move-constructible object type");
  struct state;

 public:
  class sender;
  class receiver;
  class receive_awaiter;

  /// A new sender/receiver pair.
  static std::pair<sender, receiver> make() {
    auto* s = new state;
    return {sender{s}, receiver{s}};
  }

  class sender {
   public:
    sender() noexcept = default;
    sender(sender&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    sender& operator=(sender&& other) noexcept {
      if (this != &other) {
        reset();
        state_ = std::exchange(other.state_, nullptr);
      }
      return *this;
    }
    ~sender() { reset(); }

    /// Delivers `value` (and empties this sender). errc::broken_pipe if the receiver is gone,
    /// errc::invalid_argument if this sender is empty (moved from, or it sent already).
    result<void> send(T value) {
      if (state_ == nullptr) return std::make_error_code(std::errc::invalid_argument);
      state* s = std::exchange(state_, nullptr);
      const bool delivered = s->finish(&value);
      state::release(s);
      if (!delivered) return std::make_error_code(std::errc::broken_pipe);
      return {};
    }
    /// True once the receiver is gone (a send would fail).
    bool is_closed() const noexcept { return state_ == nullptr || state_->receiver_gone(); }
    /// Drops this sender without sending: the receiver sees errc::broken_pipe.
    void reset() noexcept {
      if (state_ != nullptr) {
        state* s = std::exchange(state_, nullptr);
        s->finish(nullptr);
        state::release(s);
      }
    }

   private:
    friend class oneshot;
    explicit sender(state* s) noexcept : state_(s) {}
    state* state_ = nullptr;
  };

  class receiver {
   public:
    receiver() noexcept = default;
    receiver(receiver&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    receiver& operator=(receiver&& other) noexcept {
      if (this != &other) {
        reset();
        state_ = std::exchange(other.state_, nullptr);
      }
      return *this;
    }
    ~receiver() { reset(); }

    /// `co_await rx.receive()` -> result<T>: waits for the value or the sender's drop.
    [[nodiscard]] receive_awaiter receive() noexcept { return receive_awaiter{state_}; }
    /// The value if it came; errc::resource_unavailable_try_again if not yet.
    result<T> try_receive() {
      if (state_ == nullptr) return std::make_error_code(std::errc::invalid_argument);
      std::lock_guard lock(state_->guard);
      return state_->take_locked();
    }
    /// Gives up: a later send fails with errc::broken_pipe, a value already sent is destroyed.
    void reset() noexcept {
      if (state_ != nullptr) {
        state* s = std::exchange(state_, nullptr);
        {
          std::lock_guard lock(s->guard);
          s->receiver_alive.store(false, std::memory_order_relaxed);
        }
        state::release(s);
      }
    }

   private:
    friend class oneshot;
    explicit receiver(state* s) noexcept : state_(s) {}
    state* state_ = nullptr;
  };

  class [[nodiscard]] receive_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"oneshot receive"}; }

    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() {
      disarm();
      if (queued_) {  // destroyed while parked (runtime shutdown)
        std::lock_guard lock(state_->guard);
        if (queued_) state_->waiting = nullptr;
      }
    }

    bool await_ready() const noexcept { return state_ == nullptr; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      std::lock_guard lock(state_->guard);
      if (state_->at != phase::pending) return yield_if_out_of_budget(awaiting);
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: nothing taken
      state_->waiting = this;
      queued_ = true;
      return true;  // from here on another thread may resume the task
    }
    result<T> await_resume() {
      if (state_ == nullptr) return std::make_error_code(std::errc::invalid_argument);
      if (disarm()) return std::make_error_code(std::errc::operation_canceled);
      std::lock_guard lock(state_->guard);
      return state_->take_locked();
    }

   private:
    friend class oneshot;
    explicit receive_awaiter(state* s) noexcept : state_(s) {}
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<receive_awaiter&>(w);
      {
        std::lock_guard lock(self.state_->guard);
        if (!self.queued_) return;  // the value (or the drop) came first: it stands
        self.state_->waiting = nullptr;
        self.queued_ = false;
      }
      self.canceled_by_stop();
    }

    state* state_;
    bool queued_ = false;  // state_->waiting is this; under state_->guard
  };

 private:
  enum class phase : unsigned char { pending, sent, dropped, taken };

  struct state {
    detail::spin_lock guard;
    phase at = phase::pending;  // under guard
    std::optional<T> value;     // under guard
    receive_awaiter* waiting = nullptr;
    std::atomic<bool> receiver_alive{true};  // written under guard
    std::atomic<int> refs{2};

    bool receiver_gone() const noexcept { return !receiver_alive.load(std::memory_order_relaxed); }

    /// The sender's one move: its value (or nullptr: dropped). False if the receiver is gone.
    bool finish(T* v) {
      receive_awaiter* to_wake = nullptr;
      {
        std::lock_guard lock(guard);
        if (!receiver_alive.load(std::memory_order_relaxed)) return false;
        if (v != nullptr) {
          value.emplace(std::move(*v));  // a throw here leaves the state pending
          at = phase::sent;
        } else {
          at = phase::dropped;
        }
        if (waiting != nullptr) {
          to_wake = std::exchange(waiting, nullptr);
          to_wake->queued_ = false;
        }
      }
      if (to_wake != nullptr) static_cast<detail::waiter*>(to_wake)->wake();
      return true;
    }

    result<T> take_locked() {
      switch (at) {
        case phase::pending:
          return std::make_error_code(std::errc::resource_unavailable_try_again);
        case phase::dropped:
          return std::make_error_code(std::errc::broken_pipe);
        case phase::taken:
          return std::make_error_code(std::errc::invalid_argument);
        case phase::sent:
          break;
      }
      result<T> r(std::move(*value));
      value.reset();
      at = phase::taken;
      return r;
    }

    static void release(state* s) noexcept {
      // acq_rel: the last owner sees every write of the other before it frees the state.
      if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete s;
    }
  };
};

}  // namespace coring
