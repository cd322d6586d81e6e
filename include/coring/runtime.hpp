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
// A runtime may have one pool only (runtime_options::io_threads or cpu_threads = 0): asking for
// the missing one (io(), io_balanced(), cpu()) throws std::logic_error.
//
// Thread safety: io(), cpu(), metrics(), block_on() and shutdown() may be called from any thread
// (block_on() not from the runtime's own threads: it would deadlock, so it throws logic_error).
//
// Shutdown (shutdown(), shutdown(grace) or the destructor; idempotent; runtime.cpp has the steps
// in full):
//   0. with a grace period: stop is requested of every unfinished task (as join_handle::cancel()
//      does: its sleeps and I/O end with errc::operation_canceled), again every few milliseconds
//      for tasks that wait for the first time later, and shutdown waits until every task has
//      finished on its own or `grace` has passed. Tasks still run normally meanwhile;
//   1. the runtime stops taking work: a task spawned from now on completes at once as canceled
//      (its join_handle reports errc::operation_canceled, block_on() throws
//      std::system_error(operation_canceled)), and on(ex) to this runtime throws that error;
//      then the blocking pool is joined: its queued jobs never run (their tasks resume with
//      operation_canceled) and shutdown waits for the running ones (spawn_blocking.hpp);
//   2. the CPU workers stop and are joined: queued tasks are not run any more;
//   3. each event loop stops, cancels every ring operation in flight and reaps until the kernel
//      holds none, or until runtime_options::shutdown_timeout has passed, then its thread is joined;
//   4. every task that has not finished is destroyed (its frame and its locals are freed, from
//      the root task down); a join_handle to it then reports errc::operation_canceled, and a
//      thread blocked in block_on() gets std::system_error(operation_canceled). If the kernel
//      still held operations at the deadline of step 3, their memory may still be written:
//      the unfinished tasks are then leaked (with a message on stderr) instead.
// No task is resumed after step 2 begins.
//
// fork(): a child process gets none of the runtime's threads. Using the parent's runtime in the
// child is not allowed: block_on() and spawn() there throw std::logic_error, and its destructor
// frees nothing (the parent still uses the rings). A child may make runtimes of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <source_location>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <variant>

#include "coring/backend_kind.hpp"
#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/runtime_metrics.hpp"
#include "coring/spawn.hpp"
#include "coring/stall_report.hpp"
#include "coring/task.hpp"
#include "coring/task_dump.hpp"

namespace coring {

/// For runtime_options::io_threads or cpu_threads: one thread per hardware thread
/// (std::thread::hardware_concurrency(), at least 1).
inline constexpr unsigned one_per_core = ~0u;

struct runtime_options {
  /// Event loops in the io pool, each with its own ring and thread. 0: no io pool (a CPU-only
  /// runtime: rt.io() throws std::logic_error, block_on() runs its task on the CPU pool, and I/O,
  /// sleeps and timeout() awaited there complete at once with errc::not_supported).
  unsigned io_threads = 1;
  /// CPU workers (one_per_core: one per hardware thread). 0: no CPU pool (an io-only runtime:
  /// rt.cpu() throws std::logic_error).
  unsigned cpu_threads = one_per_core;
  /// Submission queue entries per ring (the completion queue gets twice as many).
  unsigned ring_entries = 256;
  /// How long a thread that just ran something keeps looking for more before it sleeps: a hop
  /// between pools or a channel hand-off then costs no kernel wake-up. The spin adapts: a thread
  /// woken soon after it gave up doubles its spin (up to 16x this), a long sleep resets it, and a
  /// thread that ran nothing does not spin at all (an idle runtime uses ~0 % CPU). When the runtime
  /// has more threads than the process may use CPUs (affinity mask, cgroup CPU quota), spinning
  /// would keep the thread it waits for off the CPU: the spin then yields the CPU at every pause
  /// and never grows. Zero: never spin.
  std::chrono::nanoseconds idle_spin = std::chrono::microseconds(50);
  /// Provided buffers per io loop for receive streams (tcp_stream::receive_chunks()): a power of
  /// two up to 32768, set up on a loop's first receive stream. Chunks hold one each.
  unsigned receive_buffers = 512;
  /// Bytes per provided buffer: the most one received chunk holds. Not 0.
  unsigned receive_buffer_size = 4096;
  /// How long shutdown waits for the kernel to give back canceled ring operations (step 3 of
  /// shutdown) before it gives up on them and leaks the tasks that own their memory.
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(10);
  /// Most threads of this runtime's blocking pool (spawn_blocking) at once; more jobs queue. Its
  /// threads start on demand and exit after 10 s idle; shutdown joins them. 1 to 65536.
  unsigned blocking_threads = 512;
  /// Which kernel interface the io loops drive (see coring/backend_kind.hpp): automatic picks
  /// io_uring, or epoll where io_uring is blocked, saying so once on stderr unless
  /// quiet_backend_fallback. All loops of a runtime drive the same one.
  backend_kind backend = backend_kind::automatic;
  bool quiet_backend_fallback = false;
  /// The stall detector (stall_report.hpp): an io loop or CPU worker that runs one task for longer
  /// than this is reported once per such run (runtime::set_stall_handler; default: one line on
  /// stderr). Zero: off (no watchdog thread, unless dump_signal asks for one).
  std::chrono::milliseconds stall_threshold = std::chrono::milliseconds(100);
  /// A signal (for example SIGUSR1) that prints dump_tasks() to stderr, for a process that hangs
  /// in production; 0: none. The runtime blocks it in the thread that constructs it (coring's own
  /// threads block it from birth) and reads it on its watchdog thread, so the dump prints even
  /// when every io loop is stuck; other threads of yours must block it too (as for signal_set).
  /// Not a signal a signal_set also waits for, and not one of the synchronous faults.
  int dump_signal = 0;
};
// ring_entries must be 1 to 32768 (the kernel's limit); receive_buffers a power of two up to 32768;
// io_threads and cpu_threads must not both be 0; other values make the constructor throw
// std::invalid_argument saying which and why.

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

/// Wakes the thread in block_on() when the frame that holds it goes: a coroutine parameter is
/// destroyed with the frame also when the task never ran (spawned after shutdown, or destroyed by
/// it while still queued), so the waiter always wakes.
template <class T>
class block_on_signal {
 public:
  explicit block_on_signal(block_on_state<T>& state) noexcept : state_(&state) {}
  block_on_signal(block_on_signal&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  block_on_signal& operator=(block_on_signal&&) = delete;
  ~block_on_signal() {
    if (state_ != nullptr) state_->signal();
  }
  block_on_state<T>& state() const noexcept { return *state_; }

 private:
  block_on_state<T>* state_;
};

template <class T>
task<T> join_body(join_handle<T> handle) {
  if constexpr (std::is_void_v<T>) {
    co_await handle;
  } else {
    co_return co_await handle;
  }
}

template <class T>
task<void> block_on_body(task<T> body, block_on_signal<T> signal) {
  block_on_state<T>& state = signal.state();
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
  // the waiter has seen it. (`signal`, a parameter, goes last, with the frame.)
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

  /// The io pool: tasks here may do I/O directly on their loop's ring. A task spawned here from
  /// one of the pool's loops runs on that loop; from any other thread, on the next loop
  /// round-robin. Throws std::logic_error when the runtime has no io pool (io_threads = 0).
  executor io() const;
  /// The io pool, placing every task spawned on it (from any thread, also from an io loop) on
  /// the loop with the least load: tasks queued, requests in the kernel and timers pending, as the
  /// loop counted them at the end of its last turn, plus the tasks placed on it since; equal
  /// loads take turns. For a server's connections: see spawn.hpp. Throws std::logic_error when
  /// the runtime has no io pool.
  executor io_balanced() const;
  /// The CPU pool: for computation; I/O awaited here is handed to an io loop and the task
  /// resumes here when it completes. Throws std::logic_error when the runtime has no CPU pool
  /// (cpu_threads = 0).
  executor cpu() const;

  /// Runs `t` on the io pool (on the CPU pool in a runtime without io pool) and blocks the
  /// calling thread until it finishes; returns its value or rethrows its exception.
  template <class T>
  T block_on(task<T> t, std::source_location site = std::source_location::current()) {
    check_block_on_allowed();
    detail::block_on_state<T> state;
    spawn_detached(main_executor(), detail::block_on_body(std::move(t), detail::block_on_signal<T>{state}),
                   site);
    return state.wait_and_take();
  }
  /// Blocks the calling thread until the spawned task behind `handle` finishes; returns its value
  /// or rethrows its exception (std::system_error(errc::operation_canceled) if it was canceled
  /// before it started or destroyed by shutdown; std::logic_error for an empty handle or one
  /// whose result was taken). The task keeps running where it was spawned.
  template <class T>
  T block_on(join_handle<T> handle, std::source_location site = std::source_location::current()) {
    return block_on(detail::join_body(std::move(handle)), site);
  }

  /// Stops and joins every thread and destroys unfinished tasks (steps 1-4 at the top of this
  /// header). Not from one of the runtime's own threads.
  void shutdown() noexcept;
  /// Requests stop of every task and waits up to `grace` for all of them to finish on their own
  /// (step 0 at the top of this header), then shutdown().
  void shutdown(std::chrono::nanoseconds grace) noexcept;

  /// Counters and latency histograms, summed and per loop, per CPU worker and for the blocking
  /// pool (runtime_metrics.hpp). Any thread; throws std::bad_alloc only.
  runtime_metrics metrics() const;
  /// Every unfinished task tree that has waited: where it was spawned, whether it runs (and
  /// where) or waits (for what, since when), and the co_await of each of its frames; and what
  /// each thread runs (task_dump.hpp). Any thread, while tasks run; after shutdown it is empty.
  task_dump dump_tasks() const;
  /// Prints dump_tasks() to `out` as a tree.
  void dump_tasks(std::ostream& out) const;
  /// The backend the io loops drive: io_uring or epoll (automatic for a runtime without io pool).
  backend_kind backend() const noexcept;

  /// Called with every exception that nobody will observe: one that escapes a detached task (or a
  /// finished task whose handle was dropped without being awaited), and the ones when_all,
  /// when_any and task_group cannot hand to their awaiting task (a second failure, a loser's
  /// exception; see those headers). Called on the thread where that became known. Default: print
  /// "coring: unhandled exception: <demangled type>: <what()>" to stderr. Pass nullptr to restore
  /// the default.
  void set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler);
  /// Called with each stall report (runtime_options::stall_threshold), on the runtime's watchdog
  /// thread: keep it short, and do not wait for the runtime's tasks in it. Default: print
  /// to_string(report) to stderr. Pass nullptr to restore the default. Any thread.
  void set_stall_handler(std::function<void(const stall_report&)> handler);

 private:
  void check_block_on_allowed() const;
  executor main_executor() const noexcept;  // block_on's: the io pool, else the CPU pool

  std::unique_ptr<detail::runtime_state> state_;
};

}  // namespace coring
