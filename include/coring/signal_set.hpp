// SPDX-License-Identifier: MIT
// coring::signal_set: wait for POSIX signals (SIGINT, SIGTERM, SIGHUP...) in a task.
//
//   coring::signal_set stop{SIGINT, SIGTERM};        // in main(), before any thread is started
//   coring::runtime rt;
//   rt.block_on(coring::when_any(serve(rt.io()), stop.wait()));  // serve until a signal comes
//
// `co_await set.wait()` gives result<int>: the number of the signal, or errc::operation_canceled.
// The signals come through a signalfd (SFD_NONBLOCK | SFD_CLOEXEC) that the task waits on through
// its loop's ring (wait_readable), and read on the thread the task resumes on; the task resumes on
// the pool it waited from, as every coring wait does, so a set may be waited on from the io pool,
// the CPU pool or a standalone event_loop / sync_wait.
//
// Signal masks (what makes a signalfd work: a signal that some thread does not block is delivered
// to that thread with its disposition, by default killing the process, and never reaches the fd):
// - coring's own threads (io loops, CPU workers, spawn_blocking's threads) are born with every
//   signal blocked except the synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
//   SIGSYS), SIGPIPE (sent to the writing thread) and SIGPROF (profilers), whether or not a set
//   exists: a process-directed signal is never handled on a coring thread, it goes to one of your
//   threads that does not block it (as before coring), or to a set;
// - the constructor blocks the set's signals in the calling thread, and the destructor unblocks
//   those of them that were not blocked before (so destroy the set on the thread that made it; a
//   set made on a coring thread changes nothing there). Threads inherit their creator's mask, so a
//   set made in main() before any thread is started covers every thread the program makes later;
// - your other threads, and main() when the set is made elsewhere (in a task), must block the
//   set's signals themselves (pthread_sigmask) for as long as the set exists; otherwise the
//   kernel may hand the signal to one of them.
// What a set receives: process-directed signals (kill(), sigqueue(), a terminal's Ctrl-C, SIGTERM
// from systemd or Kubernetes). A thread-directed signal (raise(), pthread_kill(), a SIGPIPE from a
// write) is seen only by a wait that reads on the thread it was sent to; send kill(getpid(), sig)
// to signal your own process.
//
// Decisions:
// - Signals that arrive while nobody waits are queued by the kernel, not lost: the next wait()
//   returns them at once, without suspending (a standard signal sent twice before it is read is
//   one signal, as always in POSIX; real-time signals are queued each). Several tasks may wait at
//   once; each signal goes to one of them. When the set is destroyed, signals of the set still
//   pending for the destroying thread or the process are discarded: they are not delivered with
//   their old disposition when the signals are unblocked again.
// - Two live sets may not share a signal: the second constructor throws std::logic_error (a
//   signal would go to whichever happened to read first). Sets with disjoint signals coexist.
// - The set belongs to no runtime: it may be made before a runtime, outlive it, and be used by the
//   next one or by sync_wait. A wait in progress when its runtime shuts down ends as every task
//   does there (its join_handle or block_on reports errc::operation_canceled).
// - Cancellation: wait() is a cancellation point (join_handle::cancel(), a stop token, shutdown
//   with a grace period, timeout(), when_any). A canceled wait returns errc::operation_canceled
//   and takes no signal: the signal stays queued for the next wait. A signal that is already
//   queued is returned even after a stop request (like every coring wait that needs not suspend).
// - Bad input (no signal, a number that is not a signal, SIGKILL, SIGSTOP, one of the signals
//   coring threads leave deliverable above, or a signal glibc reserves for itself) makes the
//   constructor throw std::invalid_argument.
//
// Thread safety: wait() may be called from any number of tasks at once; the set must outlive every
// wait. Construction and destruction are not synchronized with waits.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <thread>

#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring {

class signal_set {
 public:
  /// Blocks `signals` in the calling thread and opens the signalfd; throws std::invalid_argument
  /// or std::logic_error (see above), or std::system_error if the signalfd cannot be made.
  signal_set(std::initializer_list<int> signals);
  /// Discards the set's pending signals, closes the signalfd and unblocks in the calling thread
  /// the signals this set blocked there.
  ~signal_set();
  signal_set(const signal_set&) = delete;
  signal_set& operator=(const signal_set&) = delete;

  /// The next signal of the set: its number, or errc::operation_canceled (or a read error).
  [[nodiscard]] task<result<int>> wait();

  /// True when `signo` is one of the set's signals.
  bool contains(int signo) const noexcept;
  /// The signalfd (owned by the set), e.g. for a poll loop of your own.
  int native_handle() const noexcept { return fd_; }

 private:
  /// Reads one queued signal without waiting: its number, 0 when none is queued, or -errno.
  int take_queued() noexcept;

  int fd_ = -1;
  std::uint64_t signals_ = 0;        // bit n - 1 for signal n
  std::uint64_t blocked_by_us_ = 0;  // those this set blocked in its creating thread
  std::thread::id creator_;
};

}  // namespace coring
