// SPDX-License-Identifier: MIT
// coring::watch<T>: one latest value that many receivers watch (like Tokio's watch). The watch
// object is the sending side; subscribe() makes receivers.
//
//   coring::watch<config> cfg{load()};
//   auto rx = cfg.subscribe();
//   cfg.send(reload());                                // never waits
//   while (co_await rx.changed()) use(*rx.borrow());   // wakes once per batch of changes
//
// Each send() replaces the value and bumps a version; receivers never queue values, they only see
// the latest. A receiver remembers the version it saw last (the one current when it subscribed):
// changed() returns at once if a newer version exists, else waits for the next send(), and marks
// the version it returns for as seen. borrow() reads the current value under the watch's lock and
// returns a guard: read it and drop it (do not hold it across a co_await; sends wait for it).
//
// Thread safety: send(), send_modify(), borrow() and subscribe() from any thread; each receiver is
// used by one task at a time. A waiting receiver resumes on the pool it waited from, never inside
// send(). Lifetime: sender and receivers share one heap state, destroyed with the last of them.
// Destroying the watch (or close()) closes it: changed() then returns errc::broken_pipe once the
// receiver has seen the last version (borrow() keeps working).
//
// Errors, in std::generic_category(): broken_pipe (closed, nothing unseen; send after close),
// operation_canceled (a canceled changed()), invalid_argument (an empty, moved-from receiver).
// Cancellation: `co_await rx.changed()` is a cancellation point, cancel-safe: a canceled wait marks
// nothing seen (the change is still reported by the next changed()). A wait woken by a send before
// the stop request came succeeds.
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/waiter.hpp"
#include "coring/result.hpp"

namespace coring {

template <class T>
class watch {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "watch<T> needs a non-const object type");
  struct state;

 public:
  class receiver;
  class changed_awaiter;

  /// Read access to the current value; holds the watch's lock until destroyed.
  class borrowed {
   public:
    const T& operator*() const noexcept { return *value_; }
    const T* operator->() const noexcept { return value_; }
    const T& get() const noexcept { return *value_; }

   private:
    friend class watch;
    friend class receiver;
    explicit borrowed(state& s) : lock_(s.mutex), value_(&s.value) {}
    std::unique_lock<std::mutex> lock_;
    const T* value_;
  };

  explicit watch(T initial) : state_(std::make_shared<state>(std::move(initial))) {}
  watch(watch&&) noexcept = default;
  watch& operator=(watch&& other) noexcept {
    if (this != &other) {
      if (state_) close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~watch() {
    if (state_) close();
  }

  /// A receiver that has seen the current version.
  receiver subscribe() {
    std::lock_guard lock(state_->mutex);
    return receiver{state_, state_->version};
  }

  /// Replaces the value and wakes every waiting receiver; errc::broken_pipe after close().
  result<void> send(T value) {
    return send_modify([&](T& current) { current = std::move(value); });
  }
  /// Changes the value in place with `fn(T&)` under the lock, then wakes the waiting receivers.
  template <class Fn>
  result<void> send_modify(Fn&& fn) {
    detail::waiter* to_wake = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->closed) return std::make_error_code(std::errc::broken_pipe);
      std::forward<Fn>(fn)(state_->value);  // a throw bumps nothing (the value may be changed)
      ++state_->version;
      to_wake = state_->take_waiters_locked();
    }
    state::wake_chain(to_wake);
    return {};
  }

  /// The current value.
  borrowed borrow() const { return borrowed{*state_}; }

  /// Closes (idempotent): waiting receivers wake with errc::broken_pipe.
  void close() noexcept {
    detail::waiter* to_wake = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      state_->closed = true;
      to_wake = state_->take_waiters_locked();
    }
    state::wake_chain(to_wake);
  }

  class receiver {
   public:
    receiver() noexcept = default;
    receiver(receiver&&) noexcept = default;
    receiver& operator=(receiver&&) noexcept = default;

    /// `co_await rx.changed()` -> result<void>: once a version this receiver has not seen exists.
    [[nodiscard]] changed_awaiter changed() noexcept { return changed_awaiter{*this}; }
    /// True when a version newer than the last one seen exists (does not mark it seen).
    bool has_changed() const {
      if (!state_) return false;
      std::lock_guard lock(state_->mutex);
      return state_->version != seen_;
    }
    /// The current value (does not mark it seen).
    borrowed borrow() const { return borrowed{*state_}; }
    /// The current value, marking its version seen.
    borrowed borrow_and_update() {
      borrowed b{*state_};
      seen_ = state_->version;
      return b;
    }

   private:
    friend class watch;
    receiver(std::shared_ptr<state> s, std::uint64_t seen) noexcept : state_(std::move(s)), seen_(seen) {}

    /// Under the mutex: {} (and marked seen) for a new version, else broken_pipe or try-again.
    result<void> take_locked() noexcept {
      if (state_->version != seen_) {
        seen_ = state_->version;
        return {};
      }
      return std::make_error_code(state_->closed ? std::errc::broken_pipe
                                                 : std::errc::resource_unavailable_try_again);
    }

    std::shared_ptr<state> state_;
    std::uint64_t seen_ = 0;  // under the mutex
  };

  class [[nodiscard]] changed_awaiter : detail::waiter {
   public:
    detail::wait_note note_wait() const noexcept { return {"watch change"}; }

    changed_awaiter(const changed_awaiter&) = delete;
    changed_awaiter& operator=(const changed_awaiter&) = delete;
    ~changed_awaiter() {
      disarm();
      if (queued_) {  // destroyed while parked (runtime shutdown)
        std::lock_guard lock(rx_.state_->mutex);
        if (queued_) rx_.state_->waiters.remove(*this);
      }
    }

    bool await_ready() const noexcept { return !rx_.state_; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      state& s = *rx_.state_;
      std::lock_guard lock(s.mutex);
      result<void> r = rx_.take_locked();
      if (r || r.error() != std::errc::resource_unavailable_try_again) {
        ready_ = r;
        return yield_if_out_of_budget(awaiting);
      }
      prepare(awaiting);
      if (!arm(&cancel)) return false;  // stop was requested: nothing marked seen
      s.waiters.push_back(*this);
      queued_ = true;
      return true;  // from here on another thread may resume the task
    }
    result<void> await_resume() {
      if (!rx_.state_) return std::make_error_code(std::errc::invalid_argument);
      if (disarm()) return std::make_error_code(std::errc::operation_canceled);
      if (ready_) return *ready_;
      std::lock_guard lock(rx_.state_->mutex);  // woken by a send or close
      return rx_.take_locked();
    }

   private:
    friend class watch;
    explicit changed_awaiter(receiver& rx) noexcept : rx_(rx) {}
    static void cancel(detail::waiter& w) noexcept {
      auto& self = static_cast<changed_awaiter&>(w);
      {
        std::lock_guard lock(self.rx_.state_->mutex);
        if (!self.queued_) return;  // a send woke it first: the wait stands
        self.rx_.state_->waiters.remove(self);
        self.queued_ = false;
      }
      self.canceled_by_stop();
    }

    receiver& rx_;
    std::optional<result<void>> ready_;  // ended without suspending
    bool queued_ = false;                // in the state's waiters; under its mutex
  };

 private:
  struct state {
    explicit state(T initial) : value(std::move(initial)) {}
    std::mutex mutex;
    T value;                    // under mutex
    std::uint64_t version = 0;  // bumped by every send
    bool closed = false;
    detail::waiter_list waiters;

    detail::waiter* take_waiters_locked() noexcept {
      detail::waiter* all = waiters.take_all();
      for (detail::waiter* w = all; w != nullptr; w = w->next_waiter)
        static_cast<changed_awaiter*>(w)->queued_ = false;
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
