// SPDX-License-Identifier: MIT
// coring::signal_set (signal_set.hpp): a signalfd, the creating thread's mask, and the process-wide
// record of which signals a live set holds.
#include "coring/signal_set.hpp"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include "coring/sleep.hpp"
#include "coring/wait_fd.hpp"
#include "signal/thread_signals.hpp"

namespace coring {

namespace {

constexpr int highest_signal = 64;  // the kernel's _NSIG: signals 1..64 fit one 64-bit word

std::uint64_t bit(int signo) noexcept {
  return std::uint64_t{1} << (signo - 1);
}

std::string describe(int signo) {
  const char* abbrev = ::sigabbrev_np(signo);
  std::string out = "signal " + std::to_string(signo);
  if (abbrev != nullptr) out += std::string(" (SIG") + abbrev + ")";
  return out;
}

sigset_t to_sigset(std::uint64_t signals) noexcept {
  sigset_t set;
  ::sigemptyset(&set);
  for (int s = 1; s <= highest_signal; ++s) {
    if ((signals & bit(s)) != 0) ::sigaddset(&set, s);
  }
  return set;
}

// The signals some live set holds: two signalfds for one signal would race for it.
std::mutex& claims_mutex() {
  static std::mutex m;
  return m;
}
std::uint64_t claimed = 0;  // guarded by claims_mutex()

void release_claim(std::uint64_t signals) noexcept {
  std::lock_guard lock(claims_mutex());
  claimed &= ~signals;
}

}  // namespace

signal_set::signal_set(std::initializer_list<int> signals) : creator_(std::this_thread::get_id()) {
  if (signals.size() == 0) throw std::invalid_argument("coring::signal_set: needs at least one signal");
  for (int s : signals) {
    if (s < 1 || s > highest_signal || s > SIGRTMAX) {
      throw std::invalid_argument("coring::signal_set: " + std::to_string(s) + " is not a signal number");
    }
    if (s == SIGKILL || s == SIGSTOP) {
      throw std::invalid_argument("coring::signal_set: " + describe(s) +
                                  " can be neither blocked nor caught");
    }
    if (detail::stays_deliverable(s)) {
      throw std::invalid_argument(
          "coring::signal_set: " + describe(s) +
          " stays deliverable to every thread (a fault, SIGPIPE or SIGPROF): see signal_set.hpp");
    }
    if (::sigismember(&detail::coring_thread_signals(), s) != 1) {
      throw std::invalid_argument("coring::signal_set: " + describe(s) + " is reserved by the C library");
    }
    signals_ |= bit(s);
  }
  {
    std::lock_guard lock(claims_mutex());
    if (const std::uint64_t taken = claimed & signals_; taken != 0) {
      const int first = __builtin_ctzll(taken) + 1;
      throw std::logic_error("coring::signal_set: " + describe(first) +
                             " is already in another live signal_set");
    }
    claimed |= signals_;
  }
  const sigset_t mask = to_sigset(signals_);
  sigset_t before;
  ::pthread_sigmask(SIG_BLOCK, &mask, &before);
  for (int s = 1; s <= highest_signal; ++s) {
    if ((signals_ & bit(s)) != 0 && ::sigismember(&before, s) != 1) blocked_by_us_ |= bit(s);
  }
  fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    const sigset_t ours = to_sigset(blocked_by_us_);
    ::pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
    release_claim(signals_);
    throw std::system_error(error, std::system_category(), "coring::signal_set: signalfd");
  }
}

signal_set::~signal_set() {
  // Still blocked here: what is pending for this thread or the process is the set's, and is
  // dropped rather than delivered with its old disposition once unblocked below.
  while (take_queued() > 0) {
  }
  ::close(fd_);
  if (blocked_by_us_ != 0 && std::this_thread::get_id() == creator_) {
    const sigset_t ours = to_sigset(blocked_by_us_);
    ::pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
  }
  release_claim(signals_);
}

bool signal_set::contains(int signo) const noexcept {
  return signo >= 1 && signo <= highest_signal && (signals_ & bit(signo)) != 0;
}

int signal_set::take_queued() noexcept {
  signalfd_siginfo info;
  for (;;) {
    const ssize_t n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    if (n >= 0) return -EIO;  // the kernel hands out whole records only
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    return -errno;
  }
}

task<result<int>> signal_set::wait() {
  // The signalfd is ready when a signal is pending for the process or for the thread that polls
  // it (the io loop). The read happens where the task runs, which sees the process's signals and
  // its own thread's: a thread-directed signal pending on the loop's thread makes the fd ready
  // for a reader on a CPU worker that cannot take it. After two such empty wake-ups in a row the
  // wait backs off (1 ms, doubling to 64 ms between polls) instead of spinning. (A single empty
  // wake-up is another waiter having taken the signal first.)
  unsigned empty_wakeups = 0;
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    const int got = take_queued();
    if (got > 0) co_return got;
    if (got < 0) co_return error_from_errno(got);
    if (empty_wakeups >= 2) {
      auto slept = co_await sleep_for(backoff);
      if (!slept) co_return slept.error();
      backoff = std::min(backoff * 2, std::chrono::milliseconds(64));
    }
    auto ready = co_await wait_readable(fd_);
    if (!ready) co_return ready.error();
    ++empty_wakeups;
  }
}

}  // namespace coring
