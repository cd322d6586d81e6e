// SPDX-License-Identifier: MIT
// coring::task<T>: a lazy coroutine that produces a T (or void, or a T&).
//
// A task does nothing until it is awaited (or handed to spawn / block_on). It is move-only and owns
// its coroutine frame: destroying a task destroys the frame. Awaiting it starts it on the awaiting
// thread and, when it finishes, resumes the awaiter by symmetric transfer, so chains of tasks that
// complete synchronously run in constant stack space. An exception thrown by the task is rethrown
// by the co_await. Frames come from a per-thread recycling allocator. Awaiting an empty task
// (default-constructed or moved-from) throws std::logic_error.
//
// A task resumes on the pool it last ran on; only `co_await coring::on(ex)` moves it.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "coring/detail/await_trace.hpp"
#include "coring/detail/frame_allocator.hpp"

namespace coring {

template <class T = void>
class task;

namespace detail {

/// The part of a spawned task's cell that the awaitables of its tree look at (task_cell derives
/// from it). A tree is entered in the runtime's registry of unfinished tasks before its first
/// suspension (by every coring awaitable, and by awaiting a child task), so that shutdown can
/// find it wherever it is suspended; a task that never awaits anything (most leaves of a
/// fork-join tree) never pays for that.
struct result_box;

struct task_root {
  union {
    task_trace* trace = nullptr;  // while registered: where the tree waits, and its registry links
    result_box* outcome;          // a spawned task finished with a handle: what the handle takes
  };
  std::source_location spawned_at{};  // spawn()'s caller (fork roots: their parent's)
  bool registered = false;            // written by whichever thread runs the tree; its runs are sequential
  bool fork = false;                  // the root of when_all's children (fork_group.hpp), not a spawned task
  bool finished_inline = false;       // fork roots: the child run inline just finished (fork_group.hpp)
  // (task_cell's first fields go in the padding after these: the cell is two 64-byte blocks)
  task_root() noexcept {}
};

/// The fork group whose children this thread is running inline right now, one after another
/// (fork_group.hpp): such a child that finishes without an exception only says so in its root.
inline thread_local task_root* inline_fork_root = nullptr;

/// Enters the tree in its registry.
void register_root(task_root& root) noexcept;

/// Called by awaitables before they suspend a task of the tree under `root`.
inline void before_suspend(task_root* root) noexcept {
  if (root != nullptr && !root->registered) register_root(*root);
}

/// The root of the tree that `awaiting` belongs to (null for coroutines that are not tasks).
template <class Promise>
task_root* root_of(std::coroutine_handle<Promise> awaiting) noexcept {
  if constexpr (requires { awaiting.promise().root; }) {
    return awaiting.promise().root;
  } else {
    return nullptr;
  }
}
/// A spawned task's outcome, moved out of its frame when it finishes while a join_handle may still
/// take it: the frame (and what its parameters own: sockets, files) is freed at the task's end,
/// not when the handle goes. From the frame allocator; `destroy` frees it.
struct result_box {
  std::exception_ptr error;
  void (*destroy)(result_box*) noexcept = nullptr;
  std::uint64_t registry_id = 0;  // whose handler gets `error` if nobody takes it (task_registry)
};

/// Moves the outcome of the finished (or never started) task `frame` into a new box; null when
/// there is nothing to keep (a void task that ended without an exception, or one that never ran).
using box_fn = result_box* (*)(std::coroutine_handle<> frame);

/// Completes a spawned root task; `error` points at the exception it ended with (null or empty:
/// none), inside its promise; `box` moves its outcome out of the frame. Returns the coroutine to
/// transfer to (a waiting joiner or noop).
std::coroutine_handle<> complete_root(task_root& root, const std::exception_ptr* error, box_fn box) noexcept;

/// A suspended frame being destroyed on this thread (destroy_suspended). g++ hands an exception
/// thrown by a local's destructor during destroy() to unhandled_exception() and then runs the
/// final suspend as if the task had ended: both must then only take note, not complete the task.
struct frame_destruction {
  void* frame;
  std::exception_ptr error;
  bool parked = false;  // stopped at its final suspend point instead of being freed
  frame_destruction* outer;
};
inline thread_local frame_destruction* destroying_frame = nullptr;

/// True (and the exception kept) when `frame` is being destroyed on this thread.
inline bool note_destroy_exception(void* frame) noexcept {
  frame_destruction* d = destroying_frame;
  if (d == nullptr || d->frame != frame) return false;
  if (!d->error) d->error = std::current_exception();
  return true;
}

/// Destroys a suspended frame; returns the first exception its locals' destructors threw.
inline std::exception_ptr destroy_suspended(std::coroutine_handle<> frame) noexcept {
  frame_destruction d{frame.address(), nullptr, false, destroying_frame};
  destroying_frame = &d;
  try {
    frame.destroy();
  } catch (...) {
    if (!d.error) d.error = std::current_exception();
  }
  if (d.parked) frame.destroy();  // from the final suspend point: frees the frame
  destroying_frame = d.outer;
  return std::move(d.error);
}

/// An exception from destroying a task's frame outside a runtime's shutdown (a task dropped while
/// suspended): given to the frame being destroyed around it, else printed (task_registry.cpp).
void pass_destroy_exception(std::exception_ptr error) noexcept;

inline void destroy_owned_frame(std::coroutine_handle<> frame) noexcept {
  if (frame.done()) {
    frame.destroy();
  } else if (std::exception_ptr error = destroy_suspended(frame)) {
    pass_destroy_exception(std::move(error));
  }
}

struct promise_base;
void note_frame(promise_base& promise, const std::source_location& site) noexcept;
void note_suspend(promise_base& promise, const std::source_location& site, const std::type_info& awaiter,
                  const wait_note& note) noexcept;
void note_resume(promise_base& promise, const std::source_location& site) noexcept;

/// Wraps the awaiter of every co_await in a task (promise_base::await_transform) to note where
/// the task waits and where it resumes (await_trace.hpp). A co_await that does not suspend notes
/// nothing. Notes come before the inner await_suspend: once that has run, another thread may have
/// resumed or destroyed the frame. Awaiting a child task (an awaiter with `awaits_frame`) only
/// notes the frame's site: the child's own waits say the rest.
template <class Awaiter>
struct traced_awaiter {
  Awaiter awaiter;  // a reference when the awaitable is its own awaiter
  std::source_location site;
  promise_base* promise;
  bool suspended = false;

  bool await_ready() noexcept(noexcept(awaiter.await_ready())) { return awaiter.await_ready(); }
  template <class Promise>
  decltype(auto) await_suspend(std::coroutine_handle<Promise> awaiting) noexcept(
      noexcept(awaiter.await_suspend(awaiting))) {
    suspended = true;
    if constexpr (requires { std::remove_cvref_t<Awaiter>::awaits_frame; }) {
      note_frame(*promise, site);
    } else {
      note_suspend(*promise, site, typeid(std::remove_cvref_t<Awaiter>), note_of(awaiter));
    }
    return awaiter.await_suspend(awaiting);
  }
  decltype(auto) await_resume() noexcept(noexcept(awaiter.await_resume())) {
    if (suspended) note_resume(*promise, site);
    return awaiter.await_resume();
  }
};

struct promise_base {
  std::coroutine_handle<> continuation;  // the awaiting task; empty for a spawned root
  task_root* root = nullptr;             // the spawned task this one runs under (its stop scope)
  unsigned depth = 0;                    // frames between this one and its tree's root

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  /// Every co_await in a task: the awaiter, traced with the site of the co_await.
  template <class Awaitable>
  traced_awaiter<awaiter_type<Awaitable>> await_transform(
      Awaitable&& awaitable, std::source_location site = std::source_location::current()) {
    return {awaiter_of(static_cast<Awaitable&&>(awaitable)), site, this};
  }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      if (frame_destruction* d = destroying_frame; d != nullptr && d->frame == self.address()) [[unlikely]] {
        d->parked = true;  // g++'s destroy() after a throwing destructor: see frame_destruction
        return std::noop_coroutine();
      }
      promise_base& p = self.promise();
      if (p.continuation) return p.continuation;
      if (p.root == nullptr) return std::noop_coroutine();
      // A pointer, not a copy: a copy released here, after the joiner took the exception on
      // another thread, could free it on this one.
      const std::exception_ptr* error = self.promise().exception_slot();
      if (p.root == inline_fork_root && (error == nullptr || !*error)) {
        p.root->finished_inline = true;  // the forking loop counts it: no call, no atomic
        return std::noop_coroutine();
      }
      return complete_root(*p.root, error, &Promise::box_outcome);
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }
};

/// The thread's watch for a record, or the shared one of threads no runtime owns.
inline const thread_watch* watch_or_foreign(const thread_watch* watch) noexcept {
  static const thread_watch foreign{};
  return watch != nullptr ? watch : &foreign;
}

/// A tree's first stretch on a scheduler thread (a spawned task's start, a when_all child taken
/// by another thread): that thread now runs a task spawned at `root`'s site.
inline void note_tree_start(const task_root& root) noexcept {
  if (thread_watch* watch = current_watch())
    watch->spawn_site.store(root.spawned_at, std::memory_order_relaxed);
}

inline void note_frame(promise_base& promise, const std::source_location& site) noexcept {
  if (thread_watch* watch = current_watch()) watch->await_site.store(site, std::memory_order_relaxed);
  task_root* root = promise.root;
  if (root == nullptr) return;
  before_suspend(root);  // the child may suspend on an awaitable coring does not know
  if (task_trace* trace = root->trace) {
    const unsigned slot = promise.depth < task_trace::max_depth ? promise.depth : task_trace::max_depth - 1;
    trace->sites[slot].store(site, std::memory_order_relaxed);
    trace->depth.store(promise.depth, std::memory_order_relaxed);
  }
}

inline void note_suspend(promise_base& promise, const std::source_location& site,
                         const std::type_info& awaiter, const wait_note& note) noexcept {
  // A child task started inline by this co_await reports this site as the last one resumed from.
  if (thread_watch* watch = current_watch()) watch->await_site.store(site, std::memory_order_relaxed);
  task_root* root = promise.root;
  if (root == nullptr) return;
  before_suspend(root);  // registers the tree (and makes its trace) before its first wait
  task_trace* trace = root->trace;
  if (trace == nullptr) return;
  const unsigned slot = promise.depth < task_trace::max_depth ? promise.depth : task_trace::max_depth - 1;
  trace->sites[slot].store(site, std::memory_order_relaxed);
  trace->depth.store(promise.depth, std::memory_order_relaxed);
  trace->awaiter.store(&awaiter, std::memory_order_relaxed);
  trace->kind.store(note.kind, std::memory_order_relaxed);
  trace->fd.store(note.fd, std::memory_order_relaxed);
  trace->until_ns.store(note.until_ns, std::memory_order_relaxed);
  trace->since_ms.store(coarse_now_ms(), std::memory_order_relaxed);
  trace->running_on.store(nullptr, std::memory_order_relaxed);
}

inline void note_resume(promise_base& promise, const std::source_location& site) noexcept {
  thread_watch* watch = current_watch();
  task_root* root = promise.root;
  if (watch != nullptr) {
    watch->await_site.store(site, std::memory_order_relaxed);
    watch->spawn_site.store(root != nullptr ? root->spawned_at : std::source_location{},
                            std::memory_order_relaxed);
  }
  if (root != nullptr && root->trace != nullptr)
    root->trace->running_on.store(watch_or_foreign(watch), std::memory_order_relaxed);
}

template <class T>
struct task_promise final : promise_base {
  std::variant<std::monostate, T, std::exception_ptr> result;

  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    if (note_destroy_exception(std::coroutine_handle<task_promise>::from_promise(*this).address())) return;
    result.template emplace<2>(std::current_exception());
  }
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    result.template emplace<1>(std::forward<U>(value));
  }

  std::exception_ptr exception() const noexcept {
    return result.index() == 2 ? std::get<2>(result) : nullptr;
  }
  const std::exception_ptr* exception_slot() const noexcept { return std::get_if<2>(&result); }
  T take() {
    if (result.index() == 2) std::rethrow_exception(std::get<2>(result));
    assert(result.index() == 1 && "task finished without a value");
    return std::move(std::get<1>(result));
  }

  struct box : result_box {
    std::optional<T> value;
  };
  static result_box* box_outcome(std::coroutine_handle<> frame);
};

template <class T>
struct task_promise<T&> final : promise_base {
  std::variant<std::monostate, T*, std::exception_ptr> result;

  task<T&> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    if (note_destroy_exception(std::coroutine_handle<task_promise>::from_promise(*this).address())) return;
    result.template emplace<2>(std::current_exception());
  }
  void return_value(T& value) noexcept { result.template emplace<1>(std::addressof(value)); }

  std::exception_ptr exception() const noexcept {
    return result.index() == 2 ? std::get<2>(result) : nullptr;
  }
  const std::exception_ptr* exception_slot() const noexcept { return std::get_if<2>(&result); }
  T& take() {
    if (result.index() == 2) std::rethrow_exception(std::get<2>(result));
    assert(result.index() == 1 && "task finished without a value");
    return *std::get<1>(result);
  }

  struct box : result_box {
    std::optional<T*> value;
  };
  static result_box* box_outcome(std::coroutine_handle<> frame);
};

template <>
struct task_promise<void> final : promise_base {
  std::exception_ptr error;

  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    if (note_destroy_exception(std::coroutine_handle<task_promise>::from_promise(*this).address())) return;
    error = std::current_exception();
  }
  void return_void() const noexcept {}

  std::exception_ptr exception() const noexcept { return error; }
  const std::exception_ptr* exception_slot() const noexcept { return &error; }
  void take() const {
    if (error) std::rethrow_exception(error);
  }

  using box = result_box;
  static result_box* box_outcome(std::coroutine_handle<> frame);
};

/// Frees a box made by box_outcome (the destructor of T, then the memory).
template <class Box>
void destroy_box(result_box* b) noexcept {
  static_cast<Box*>(b)->~Box();
  deallocate_frame(b, sizeof(Box));
}

template <class Box>
Box* make_box() {
  static_assert(alignof(Box) <= alignof(std::max_align_t), "the frame allocator aligns to max_align_t");
  Box* b = new (allocate_frame(sizeof(Box))) Box{};
  b->destroy = &destroy_box<Box>;
  return b;
}

template <class T>
result_box* task_promise<T>::box_outcome(std::coroutine_handle<> frame) {
  auto& p = std::coroutine_handle<task_promise>::from_address(frame.address()).promise();
  if (p.result.index() == 0) return nullptr;
  box* b = make_box<box>();
  if (p.result.index() == 2) {
    b->error = std::move(std::get<2>(p.result));
  } else {
    try {
      b->value.emplace(std::move(std::get<1>(p.result)));
    } catch (...) {
      b->error = std::current_exception();  // the move threw: that is the task's outcome now
    }
  }
  return b;
}

template <class T>
result_box* task_promise<T&>::box_outcome(std::coroutine_handle<> frame) {
  auto& p = std::coroutine_handle<task_promise>::from_address(frame.address()).promise();
  if (p.result.index() == 0) return nullptr;
  box* b = make_box<box>();
  if (p.result.index() == 2) {
    b->error = std::move(std::get<2>(p.result));
  } else {
    b->value.emplace(std::get<1>(p.result));
  }
  return b;
}

inline result_box* task_promise<void>::box_outcome(std::coroutine_handle<> frame) {
  auto& p = std::coroutine_handle<task_promise>::from_address(frame.address()).promise();
  if (!p.error) return nullptr;  // the common case: nothing to keep, nothing allocated
  result_box* b = make_box<result_box>();
  b->error = std::move(p.error);
  return b;
}

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  explicit task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (handle_) detail::destroy_owned_frame(handle_);
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (handle_) detail::destroy_owned_frame(handle_);
  }

  /// False for a default-constructed or moved-from task.
  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return handle_ && handle_.done(); }

  auto operator co_await() const& noexcept { return awaiter{handle_}; }
  auto operator co_await() const&& noexcept { return awaiter{handle_}; }

  /// Gives up ownership of the frame (used by spawn and block_on).
  std::coroutine_handle<promise_type> release() noexcept { return std::exchange(handle_, {}); }

 private:
  struct awaiter {
    static constexpr bool awaits_frame = true;  // traced_awaiter: a frame, not a wait
    std::coroutine_handle<promise_type> handle;

    // An empty task (default-constructed, moved-from or released) is "ready", so that
    // await_resume can say so with an exception instead of resuming a null frame.
    bool await_ready() const noexcept { return !handle || handle.done(); }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      handle.promise().continuation = awaiting;
      detail::task_root* root = detail::root_of(awaiting);
      handle.promise().root = root;
      if constexpr (requires { awaiting.promise().depth; })
        handle.promise().depth = awaiting.promise().depth + 1;
      detail::before_suspend(root);  // the child may suspend on an awaitable coring does not know
      return handle;
    }
    decltype(auto) await_resume() const {
      if (!handle) [[unlikely]]
        throw std::logic_error("coring: co_await of an empty task (default-constructed or moved-from)");
      return handle.promise().take();
    }
  };

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
template <class T>
task<T&> task_promise<T&>::get_return_object() noexcept {
  return task<T&>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
}  // namespace detail

}  // namespace coring
