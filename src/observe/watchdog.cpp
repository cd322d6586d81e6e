// SPDX-License-Identifier: MIT
#include "observe/watchdog.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <system_error>

#include "signal/thread_signals.hpp"

namespace coring::detail {

watchdog::watchdog(std::vector<const thread_watch*> watched, options o)
    : watched_(std::move(watched)), seen_(watched_.size()), options_(std::move(o)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::system_category(), "coring: watchdog eventfd");
  if (options_.signal != 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, options_.signal);
    sigset_t previous;
    ::pthread_sigmask(SIG_BLOCK, &set, &previous);
    unblock_on_exit_ = sigismember(&previous, options_.signal) == 0;
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
      const int error = errno;
      if (unblock_on_exit_) ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      ::close(wake_fd_);
      throw std::system_error(error, std::system_category(), "coring: runtime_options::dump_signal signalfd");
    }
  }
  tick_clock();                         // before the first task can suspend
  const coring_thread_mask_scope mask;  // born with the mask of coring's threads
  thread_ = std::thread([this] { run(); });
}

watchdog::~watchdog() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
  if (signal_fd_ >= 0) {
    ::close(signal_fd_);
    if (unblock_on_exit_) {
      // A signal that came after the last read would be delivered with its default action (for
      // SIGUSR1: the end of the process) once unblocked: take it first.
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, options_.signal);
      const timespec now{0, 0};
      while (::sigtimedwait(&set, nullptr, &now) > 0) {
      }
      ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    }
  }
}

void watchdog::set_stall_handler(std::function<void(const stall_report&)> handler) {
  auto shared = handler ? std::make_shared<const std::function<void(const stall_report&)>>(std::move(handler))
                        : nullptr;
  std::lock_guard lock(handler_mutex_);
  handler_ = std::move(shared);
}

void watchdog::run() noexcept {
  ::pthread_setname_np(::pthread_self(), "coring-watch");
  // The period also sets the resolution of coarse_clock_ms (the dump's waiting times).
  const auto period = options_.threshold.count() > 0
                          ? std::max(options_.threshold / 4, std::chrono::milliseconds(1))
                          : std::chrono::milliseconds(50);
  const int timeout = static_cast<int>(period.count());
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
  const nfds_t count = signal_fd_ >= 0 ? 2 : 1;
  for (;;) {
    tick_clock();
    const int ready = ::poll(fds, count, timeout);
    if (ready < 0 && errno != EINTR) return;
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) return;
    if (ready > 0 && count == 2 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        try {
          if (options_.on_signal) options_.on_signal();
        } catch (...) {
          std::fputs("coring: the task dump on runtime_options::dump_signal failed\n", stderr);
        }
      }
    }
    if (options_.threshold.count() > 0) look();
  }
}

void watchdog::tick_clock() noexcept {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  coarse_clock_ms.store(static_cast<std::uint64_t>(now.count()), std::memory_order_relaxed);
}

void watchdog::look() noexcept {
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < watched_.size(); ++i) {
    const thread_watch& w = *watched_[i];
    seen& s = seen_[i];
    const std::uint64_t runs = w.runs.load(std::memory_order_relaxed);
    if (w.depth.load(std::memory_order_relaxed) == 0 || runs != s.runs) {
      s = seen{runs, now, false};
      continue;
    }
    const auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.since);
    if (s.reported || lasted < options_.threshold) continue;
    s.reported = true;
    stall_report report{w.name, lasted, options_.threshold, w.spawn_site.load(std::memory_order_relaxed),
                        w.await_site.load(std::memory_order_relaxed)};
    std::shared_ptr<const std::function<void(const stall_report&)>> handler;
    {
      std::lock_guard lock(handler_mutex_);
      handler = handler_;
    }
    try {
      if (handler != nullptr) {
        (*handler)(report);
      } else {
        const std::string line = to_string(report) + "\n";
        std::fputs(line.c_str(), stderr);
      }
    } catch (...) {
      std::fputs("coring: a stall report failed (the handler threw or memory ran out)\n", stderr);
    }
  }
}

}  // namespace coring::detail
