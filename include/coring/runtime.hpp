// SPDX-License-Identifier: MIT
// coring::runtime: an io pool of event loops (one io_uring each, one thread each) and a CPU pool
// of work-stealing workers, in one object.
//
//   coring::runtime rt{{.io_threads = 1, .cpu_threads = 4}};
//   int n = rt.block_on(main_task());      // runs main_task on the io pool, waits for it
//   coring::spawn(rt.cpu(), work()).detach();
//
// Where tasks run: a task spawned on rt.io() or rt.cpu() runs there and resumes there after every
// I/O operation, timer or join; only `co_await coring::on(ex)` moves it to another pool.
//
// Thread safety: io(), cpu(), metrics(), block_on() and shutdown() may be called from any thread
// (block_on() not from the runtime's own threads: it would deadlock, so it throws logic_error).
//
// Shutdown (shutdown() or the destructor; idempotent):
//   1. the CPU workers stop and are joined: queued tasks are not run any more;
//   2. each event loop stops, cancels every ring operation in flight and reaps until the kernel
//      holds none, then its thread is joined;
//   3. every task that has not finished is destroyed (its frame and its locals are freed, from
//      the root task down); a join_handle to it then reports errc::operation_canceled, and a
//      thread blocked in block_on() gets std::system_error(operation_canceled).
// No task is resumed after step 1 begins. Work spawned after shutdown() never runs and is
// destroyed by the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <variant>

#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/runtime_metrics.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

struct runtime_options {
  /// Event loops in the io pool, each with its own ring and thread.
  unsigned io_threads = 1;
  /// CPU workers; 0 means std::thread::hardware_concurrency().
  unsigned cpu_threads = 0;
  /// Submission queue entries per ring (the completion queue gets twice as many).
  unsigned ring_entries = 256;
  /// How long an idle thread keeps looking for work before it sleeps. Longer makes hops between
  /// pools cheaper under load (no kernel wake-up); zero makes an idle runtime cheapest.
  std::chrono::nanoseconds idle_spin = std::chrono::microseconds(50);
  /// Provided buffers per io loop for receive streams (tcp_stream::receive_chunks()): a power of
  /// two up to 32768, set up on a loop's first receive stream. Chunks hold one each.
  unsigned receive_buffers = 512;
  /// Bytes per provided buffer: the most one received chunk holds.
  unsigned receive_buffer_size = 4096;
};

namespace detail {

template <class T>
class block_on_state {
 public:
  using stored = std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>;

  template <class U>
  void set_value(U&& value) {
    if constexpr (std::is_reference_v<T>) {
      result_.template emplace<1>(std::addressof(value));
    } else {
      result_.template emplace<1>(std::forward<U>(value));
    }
  }
  void set_exception(std::exception_ptr error) noexcept { result_.template emplace<2>(std::move(error)); }
  void signal() noexcept {
    std::lock_guard lock(mutex_);
    done_ = true;
    done_cv_.notify_one();
  }
  T wait_and_take() {
    {
      std::unique_lock lock(mutex_);
      done_cv_.wait(lock, [&] { return done_; });
    }
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    if (result_.index() == 0) throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    if constexpr (std::is_reference_v<T>) {
      return *std::get<1>(result_);
    } else {
      return std::move(std::get<1>(result_));
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::variant<std::monostate, stored, std::exception_ptr> result_;
};

template <>
class block_on_state<void> : public block_on_state<std::monostate> {
 public:
  void wait_and_take() { (void)block_on_state<std::monostate>::wait_and_take(); }
};

template <class T>
task<void> block_on_body(task<T> body, block_on_state<T>& state) {
  struct signal_on_exit {
    block_on_state<T>& state;
    ~signal_on_exit() { state.signal(); }
  } guard{state};
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body;
      state.set_value(std::monostate{});
    } else {
      state.set_value(co_await body);
    }
  } catch (...) {
    state.set_exception(std::current_exception());
  }
  // Free the task (and its promise's reference to an exception) before the waiter wakes: then
  // the waiting thread holds the last reference, and nothing here touches the exception after
  // the waiter has seen it.
  body = task<T>{};
}

struct runtime_state;

}  // namespace detail

class runtime {
 public:
  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// The io pool: tasks here may do I/O directly on their loop's ring.
  executor io() const noexcept;
  /// The CPU pool: for computation; I/O awaited here is handed to an io loop and the task
  /// resumes here when it completes.
  executor cpu() const noexcept;

  /// Runs `t` on the io pool and blocks the calling thread until it finishes; returns its value
  /// or rethrows its exception.
  template <class T>
  T block_on(task<T> t) {
    check_block_on_allowed();
    detail::block_on_state<T> state;
    spawn(io(), detail::block_on_body(std::move(t), state)).detach();
    return state.wait_and_take();
  }

  /// Stops and joins every thread and destroys unfinished tasks (see the top of this header).
  void shutdown() noexcept;

  runtime_metrics metrics() const noexcept;

  /// Called with every exception that nobody will observe: one that escapes a detached task (or a
  /// finished task whose handle was dropped without being awaited), and the ones when_all,
  /// when_any and task_group cannot hand to their awaiting task (a second failure, a loser's
  /// exception; see those headers). Called on the thread where that became known. Default: print
  /// "coring: unhandled exception: <demangled type>: <what()>" to stderr. Pass nullptr to restore
  /// the default.
  void set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler);

 private:
  void check_block_on_allowed() const;

  std::unique_ptr<detail::runtime_state> state_;
};

}  // namespace coring
