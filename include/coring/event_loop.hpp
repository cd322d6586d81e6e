// SPDX-License-Identifier: MIT
// coring::event_loop: one io_uring ring driven by the thread that calls run(), run_once() or poll().
// For programs that already own their threads (or their own loop): embed coring by calling poll()
// from your loop, or run() on a thread of your choice. A runtime is made of such loops plus a CPU pool.
//
//   coring::event_loop loop;
//   auto h = loop.spawn(serve());   // queued; runs when the loop is driven
//   loop.run();                     // until stop() or until no spawned task is left
//
// Threads: the first thread that drives the loop owns its ring (single-issuer ring); driving it
// later from another thread throws std::logic_error. spawn(), stop() and executor() may be used
// from any thread; work posted from other threads wakes the loop without taking a lock.
// Tasks spawned here resume here after every I/O operation and timer.
//
// Exceptions nobody observes (a detached task's, a second failure of when_all or task_group, a
// when_any loser's) among tasks running here go to this loop's set_unhandled_exception_handler.
//
// Embedding in a host's own loop (GLib, Qt, libuv, a bare epoll_wait) without spinning: watch
// native_handle() for readability and sleep at most next_timeout(), then call poll():
//
//   int fd = loop.native_handle();                  // on the thread that will call poll()
//   for (;;) {
//     auto t = loop.next_timeout();                 // nullopt: only the descriptor can bring work
//     host_wait(fd, t);                             // epoll_wait / g_source / uv_poll ...
//     loop.poll();
//   }
//
// The descriptor is readable whenever a completion arrived or another thread queued work (spawn,
// a wake-up of a task resumed from another pool); timers live in the loop itself, hence
// next_timeout(). poll() never blocks; call next_timeout() after it (it is zero while work is
// left over, e.g. more completions than one turn hands on).
//
// Destruction: cancels and reaps every ring operation in flight, then destroys unfinished tasks
// (their join_handles report errc::operation_canceled). Do not destroy the loop while a thread is
// driving it.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>

#include "coring/backend_kind.hpp"
#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

struct event_loop_options {
  /// Submission queue entries (the completion queue gets twice as many).
  unsigned ring_entries = 256;
  /// Provided buffers for receive streams (a power of two up to 32768) and their size in bytes,
  /// as in runtime_options.
  unsigned receive_buffers = 512;
  unsigned receive_buffer_size = 4096;
  /// Which kernel interface the loop drives, and whether falling back to epoll says so on stderr
  /// (see coring/backend_kind.hpp).
  backend_kind backend = backend_kind::automatic;
  bool quiet_backend_fallback = false;
};

namespace detail {
class event_loop_impl;
class task_registry;
}  // namespace detail

class event_loop {
 public:
  explicit event_loop(event_loop_options options = {});
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  /// Drives the loop until stop() is called or no task spawned on it is alive. Clears a pending
  /// stop() on return, so the loop can be run again.
  void run();
  /// One turn: runs what is ready, submits, and waits (blocking) until at least one completion,
  /// wake-up or timer when nothing was ready. Returns the number of items handled.
  std::size_t run_once();
  /// One turn that never blocks. Returns the number of items handled.
  std::size_t poll();
  /// Makes run() return after its current turn. Any thread.
  void stop() noexcept;

  /// A descriptor that is readable whenever the loop has work for poll(): completions, work
  /// queued from other threads. Binds the loop to the calling thread (as driving it does); the
  /// loop owns the descriptor. Throws std::system_error if it cannot be made.
  int native_handle();
  /// How long a host may sleep before it calls poll() (a due timer, or zero when work is ready
  /// now); nullopt when only the descriptor can bring work. On the thread that drives the loop.
  std::optional<std::chrono::nanoseconds> next_timeout() const noexcept;

  /// Tasks spawned on this executor run on this loop.
  executor get_executor() const noexcept;

  template <class T>
  join_handle<T> spawn(task<T> t, std::source_location site = std::source_location::current()) {
    return coring::spawn(get_executor(), std::move(t), site);
  }

  /// Called with every exception that nobody will observe among the tasks running on this loop: one
  /// that escapes a detached task (or a finished task whose handle was dropped without being
  /// awaited), and the ones when_all, when_any and task_group cannot hand to their awaiting task
  /// (see those headers). Called on the thread where that became known. Default: print it to
  /// stderr. Pass nullptr to restore the default. Any thread.
  void set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler);

  /// Tasks spawned on this loop and not finished yet.
  std::size_t alive_tasks() const noexcept;
  /// Which ring setup the kernel accepted, e.g. "io_uring (single issuer, deferred task run)", or
  /// "epoll".
  const char* backend_name() const noexcept;
  /// The backend the loop drives: io_uring or epoll (never automatic).
  backend_kind backend() const noexcept;

 private:
  std::unique_ptr<detail::task_registry> registry_;
  std::unique_ptr<detail::event_loop_impl> impl_;
};

}  // namespace coring
