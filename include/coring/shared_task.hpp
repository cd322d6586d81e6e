// SPDX-License-Identifier: MIT
// coring::shared_task<T>: a lazy task that many tasks may await; it runs once and every awaiter
// gets its result.
//
//   coring::shared_task<config> cfg = load_config();   // a coroutine returning shared_task<config>
//   // in any number of tasks, on any pools, at the same time:
//   const config& c = co_await cfg;
//
// The handle is copyable (copies share one result; counted references, any thread). Nothing runs
// until the first co_await: it then starts the body as a task of its own, spawned on the first
// awaiter's pool, with its own stop scope (a stop request for an awaiter never stops the shared
// work). When the body ends, every awaiter resumes on the pool it awaited from. Awaiting an lvalue
// handle gives `const T&` (valid while a handle exists), awaiting an rvalue gives a copy of T;
// T& gives T&; void gives nothing. An exception thrown by the body is rethrown to every awaiter
// (the same exception object). Awaiting a finished shared_task does not suspend.
//
// Cancellation: co_await is a cancellation point. A stop request for an awaiting task resumes that
// task with std::system_error(errc::operation_canceled); the body and the other awaiters go on.
// If the body itself never ends (runtime shutdown destroyed it, or refused to start it), every
// awaiter gets operation_canceled.
//
// Threads: any number of tasks on any threads may await one shared_task at once (a spin lock
// guards the list of waiting tasks). The result lives until the last handle is gone; the body's
// frame is freed when the body ends (or, never started, with the last handle). Awaiting needs a runtime or
// event_loop thread; awaiting an empty handle throws std::logic_error.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/scheduler.hpp"
#include "coring/detail/spin_lock.hpp"
#include "coring/detail/waiter.hpp"
#include "coring/executor.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

template <class T = void>
class shared_task;

namespace detail {

/// The result of a shared_task's body (shared_task_state_of<T> adds the value): the counted
/// references, the waiting tasks and how the body ended. On the heap, apart from the body's frame:
/// the body runs under its runner's stop scope, so the runner owns the frame once it started, and
/// a runner destroyed by shutdown destroys it while that scope still exists.
struct shared_task_state {
  std::atomic<std::size_t> refs{1};  // handles, plus the runner while it exists
  spin_lock lock;
  waiter_list waiters;            // guarded by lock
  bool started = false;           // guarded by lock
  std::atomic<bool> done{false};  // stored true under lock; then error and the value are final
  std::exception_ptr error;       // the body's exception, or operation_canceled if abandoned
  std::coroutine_handle<> body;   // owned here until started, then by the runner
  struct shared_task_promise_base* body_promise = nullptr;
  void (*free)(shared_task_state*) noexcept = nullptr;

  void add_ref() noexcept {
    // relaxed: a new reference is made from an existing one, which keeps the state alive.
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    // acq_rel: every use through other references happens before the state is freed.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (body) destroy_owned_frame(body);  // never started
    free(this);
  }

  /// The body ended (or will never end: `abandoned`). Wakes every waiting task, outside the lock;
  /// the caller (the runner) holds a reference, so the state outlives the wake-ups.
  void finish(bool abandoned) noexcept;
};

template <class T>
struct shared_task_value {
  std::optional<T> value;
  const T& get() const noexcept { return *value; }
};
template <class T>
struct shared_task_value<T&> {
  T* value = nullptr;
  T& get() const noexcept { return *value; }
};
template <>
struct shared_task_value<void> {
  void get() const noexcept {}
};

template <class T>
struct shared_task_state_of final : shared_task_state, shared_task_value<T> {};

template <class State>
void free_shared_state(shared_task_state* s) noexcept {
  static_assert(alignof(State) <= alignof(std::max_align_t), "the frame allocator aligns to max_align_t");
  static_cast<State*>(s)->~State();
  deallocate_frame(s, sizeof(State));
}

/// The body's promise: where it returns to (its runner) and the stop scope it runs under.
struct shared_task_promise_base {
  std::coroutine_handle<> continuation;  // the runner, which awaits the body
  task_root* root = nullptr;             // the runner's tree: the body's stop scope
  shared_task_state* state = nullptr;

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
};

template <class Promise>
struct shared_final_awaiter {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
    if (frame_destruction* d = destroying_frame; d != nullptr && d->frame == self.address()) [[unlikely]] {
      d->parked = true;  // see frame_destruction (task.hpp)
      return std::noop_coroutine();
    }
    return self.promise().continuation;
  }
  void await_resume() const noexcept {}
};

template <class T>
struct shared_task_return {
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    auto* self =
        static_cast<shared_task_promise_base*>(static_cast<typename shared_task<T>::promise_type*>(this));
    static_cast<shared_task_state_of<T>*>(self->state)->value.emplace(std::forward<U>(v));
  }
};
template <class T>
struct shared_task_return<T&> {
  void return_value(T& v) noexcept {
    auto* self =
        static_cast<shared_task_promise_base*>(static_cast<typename shared_task<T&>::promise_type*>(this));
    static_cast<shared_task_state_of<T&>*>(self->state)->value = std::addressof(v);
  }
};
template <>
struct shared_task_return<void> {
  void return_void() const noexcept {}
};

template <class T>
struct shared_task_promise final : shared_task_promise_base, shared_task_return<T> {
  shared_task<T> get_return_object();
  shared_final_awaiter<shared_task_promise> final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept {
    if (note_destroy_exception(std::coroutine_handle<shared_task_promise>::from_promise(*this).address()))
      return;
    state->error = std::current_exception();
  }
};

/// The runner's share: a reference to the state and, once started, the body's frame. Destroyed
/// with the runner's frame; if that happens before the body ended (shutdown destroyed the runner,
/// or never started it), the body's frame goes first (its operations still see the runner's stop
/// scope) and the awaiters are told.
class shared_runner_share {
 public:
  shared_runner_share(shared_task_state* s, std::coroutine_handle<> body) noexcept : state_(s), body_(body) {}
  shared_runner_share(shared_runner_share&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)), body_(std::exchange(other.body_, {})) {}
  shared_runner_share(const shared_runner_share&) = delete;
  shared_runner_share& operator=(const shared_runner_share&) = delete;
  shared_runner_share& operator=(shared_runner_share&&) = delete;
  ~shared_runner_share() {
    if (body_) destroy_owned_frame(body_);
    if (state_ == nullptr) return;
    if (!state_->done.load(std::memory_order_acquire)) state_->finish(/*abandoned=*/true);
    state_->release();
  }
  shared_task_state* state() const noexcept { return state_; }
  /// The body ended: its frame goes now (the value is in the state), then the awaiters are woken.
  void body_ended() noexcept {
    destroy_owned_frame(std::exchange(body_, {}));
    state_->finish(/*abandoned=*/false);
  }

 private:
  shared_task_state* state_;
  std::coroutine_handle<> body_;
};

/// The runner awaits the body as a child: the body runs under the runner's stop scope.
struct shared_body_awaiter {
  shared_task_state* state;
  std::coroutine_handle<> body;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> runner) noexcept {
    state->body_promise->continuation = runner;
    state->body_promise->root = root_of(runner);
    before_suspend(state->body_promise->root);
    return body;
  }
  void await_resume() const noexcept {}
};

inline task<void> run_shared(shared_runner_share share, std::coroutine_handle<> body) {
  co_await shared_body_awaiter{share.state(), body};
  share.body_ended();
}

/// One awaiting task, parked in the state's list.
class shared_task_awaiter_base : public waiter {
 public:
  explicit shared_task_awaiter_base(shared_task_state* s) noexcept : state_(s) {}
  shared_task_awaiter_base(const shared_task_awaiter_base&) = delete;
  shared_task_awaiter_base& operator=(const shared_task_awaiter_base&) = delete;
  ~shared_task_awaiter_base() {
    disarm();
    // Still queued only when the waiting task is destroyed (runtime shutdown): unlink.
    if (pushed_) {
      std::lock_guard guard(state_->lock);
      if (queued_) state_->waiters.remove(*this);
    }
  }

  bool await_ready() const noexcept {
    return state_ == nullptr || state_->done.load(std::memory_order_acquire);
  }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    scheduler* here = current_scheduler();
    if (here == nullptr) [[unlikely]] {
      no_runtime_ = true;
      return false;
    }
    prepare(awaiting);
    std::unique_lock guard(state_->lock);
    if (state_->done.load(std::memory_order_relaxed)) return false;
    if (!arm(&cancel)) return false;  // stop was requested before: canceled without suspending
    queued_ = pushed_ = true;
    state_->waiters.push_back(*this);
    const bool start = !std::exchange(state_->started, true);
    shared_task_state* const state = state_;
    guard.unlock();
    // From here on the body may finish and resume this task on another thread: `this` is not
    // touched again.
    if (start) {
      state->add_ref();
      const std::coroutine_handle<> body = std::exchange(state->body, {});
      spawn_detached(executor{here}, run_shared(shared_runner_share{state, body}, body));
    }
    return true;
  }

 protected:
  /// Throws what the wait ended with: a stop request, no runtime, or the body's exception.
  void check() {
    if (state_ == nullptr) [[unlikely]]
      throw std::logic_error("coring: co_await of an empty shared_task (default-constructed or moved-from)");
    if (no_runtime_) [[unlikely]]
      throw std::system_error(std::make_error_code(std::errc::not_supported),
                              "coring: a shared_task is awaited on a runtime or an event loop");
    if (disarm()) throw_canceled();
    if (state_->error) std::rethrow_exception(state_->error);
  }
  shared_task_state* state_;

 private:
  friend struct shared_task_state;
  static void cancel(waiter& w) noexcept {
    auto& self = static_cast<shared_task_awaiter_base&>(w);
    std::unique_lock guard(self.state_->lock);
    if (!self.queued_) return;  // the body ended first: the wait succeeds
    self.state_->waiters.remove(self);
    self.queued_ = false;
    guard.unlock();
    self.canceled_by_stop();
  }

  bool queued_ = false;      // in the state's list; guarded by its lock
  bool pushed_ = false;      // was queued once; only the awaiting task touches it
  bool no_runtime_ = false;  // awaited outside any runtime
};

inline void shared_task_state::finish(bool abandoned) noexcept {
  std::unique_lock guard(lock);
  if (done.load(std::memory_order_relaxed)) return;
  if (abandoned && !error) {
    error = std::make_exception_ptr(
        std::system_error(std::make_error_code(std::errc::operation_canceled),
                          "coring: the shared_task's body was destroyed before it ended"));
  }
  done.store(true, std::memory_order_release);  // pairs with the acquire in await_ready
  waiter* all = waiters.take_all();
  for (waiter* w = all; w != nullptr; w = w->next_waiter)
    static_cast<shared_task_awaiter_base*>(w)->queued_ = false;
  guard.unlock();
  while (all != nullptr) {
    waiter* next = all->next_waiter;  // read first: once woken, the task may free its awaiter
    all->wake();
    all = next;
  }
}

template <class T, bool Copy>
class shared_task_awaiter : public shared_task_awaiter_base {
 public:
  using shared_task_awaiter_base::shared_task_awaiter_base;
  decltype(auto) await_resume() {
    check();
    auto& state = *static_cast<shared_task_state_of<T>*>(state_);
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (Copy && !std::is_reference_v<T>) {
      return T(state.get());
    } else {
      return state.get();  // const T& (T& for a reference task)
    }
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] shared_task {
 public:
  using promise_type = detail::shared_task_promise<T>;
  using value_type = T;

  shared_task() noexcept = default;
  explicit shared_task(detail::shared_task_state* state) noexcept : state_(state) {}
  shared_task(const shared_task& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->add_ref();
  }
  shared_task(shared_task&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  shared_task& operator=(shared_task other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~shared_task() {
    if (state_ != nullptr) state_->release();
  }

  /// False for a default-constructed or moved-from handle.
  bool valid() const noexcept { return state_ != nullptr; }
  /// True once the body has ended (co_await then does not suspend).
  bool done() const noexcept { return state_ != nullptr && state_->done.load(std::memory_order_acquire); }

  auto operator co_await() const& noexcept { return detail::shared_task_awaiter<T, false>{state_}; }
  auto operator co_await() const&& noexcept { return detail::shared_task_awaiter<T, true>{state_}; }

  friend bool operator==(const shared_task& a, const shared_task& b) noexcept { return a.state_ == b.state_; }

 private:
  detail::shared_task_state* state_ = nullptr;
};

namespace detail {
template <class T>
shared_task<T> shared_task_promise<T>::get_return_object() {
  using state_type = shared_task_state_of<T>;
  auto* s = new (allocate_frame(sizeof(state_type))) state_type{};
  s->free = &free_shared_state<state_type>;
  s->body = std::coroutine_handle<shared_task_promise>::from_promise(*this);
  s->body_promise = this;
  state = s;
  return shared_task<T>{s};
}
}  // namespace detail

}  // namespace coring
