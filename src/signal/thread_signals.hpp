// SPDX-License-Identifier: MIT
// The signal mask every coring thread starts with (io loops, CPU workers, spawn_blocking's pool).
//
// Every coring thread blocks every signal except those that must stay deliverable to it: the
// synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), which the kernel sends to
// the thread that caused them; SIGPIPE, sent to the thread whose write found the peer gone (so a
// program that relies on its default action keeps it); and SIGPROF, the sampling signal of
// profilers (a process-wide ITIMER_PROF must be able to land on the threads that do the work).
// A process-directed signal (kill(), a terminal's Ctrl-C, systemd's
// SIGTERM) is therefore never handled on a coring thread: it goes to one of the application's own
// threads that does not block it, or, when every thread blocks it, it stays pending for a
// signal_set's signalfd (signal_set.hpp). The mask is given at birth: a thread is created while
// its creator blocks the same signals (threads inherit the creator's mask), so there is no window
// in which a new thread could take a signal.
#pragma once

#include <signal.h>

namespace coring::detail {

/// The signals a coring thread blocks (see above).
const sigset_t& coring_thread_signals() noexcept;

/// True for the signals coring threads do not block (listed above).
bool stays_deliverable(int signo) noexcept;

/// Blocks coring_thread_signals() in the calling thread for its lifetime and then restores the
/// previous mask: wrap the creation of a coring thread in one. Not on any hot path (two syscalls
/// per thread created).
class coring_thread_mask_scope {
 public:
  coring_thread_mask_scope() noexcept;
  ~coring_thread_mask_scope();
  coring_thread_mask_scope(const coring_thread_mask_scope&) = delete;
  coring_thread_mask_scope& operator=(const coring_thread_mask_scope&) = delete;

 private:
  sigset_t previous_;
};

}  // namespace coring::detail
