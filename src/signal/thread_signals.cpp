// SPDX-License-Identifier: MIT
// The signal mask of coring's threads (thread_signals.hpp).
#include "signal/thread_signals.hpp"

#include <pthread.h>

namespace coring::detail {

namespace {

constexpr int deliverable[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPIPE, SIGPROF};

sigset_t make_coring_thread_signals() noexcept {
  sigset_t set;
  ::sigfillset(&set);  // glibc leaves out the signals it reserves for itself (thread cancel, setxid)
  for (int s : deliverable) ::sigdelset(&set, s);
  return set;
}

}  // namespace

const sigset_t& coring_thread_signals() noexcept {
  static const sigset_t set = make_coring_thread_signals();
  return set;
}

bool stays_deliverable(int signo) noexcept {
  for (int s : deliverable) {
    if (s == signo) return true;
  }
  return false;
}

coring_thread_mask_scope::coring_thread_mask_scope() noexcept {
  ::pthread_sigmask(SIG_BLOCK, &coring_thread_signals(), &previous_);
}

coring_thread_mask_scope::~coring_thread_mask_scope() {
  ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

}  // namespace coring::detail
