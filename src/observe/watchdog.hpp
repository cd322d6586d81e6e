// SPDX-License-Identifier: MIT
// A runtime's watchdog thread: the stall detector (runtime_options::stall_threshold) and the task
// dump on a signal (runtime_options::dump_signal).
//
// Every threshold/4 it reads each watched thread's thread_watch: a thread inside a run whose run
// count has not moved since the watchdog first saw that count, for at least the threshold, is
// reported once (stall_report.hpp). The signal, when asked for, is blocked in the thread that
// makes the watchdog (coring's own threads block it from birth) and read from a signalfd by the
// watchdog thread, which then calls on_signal: a stuck io loop cannot keep the dump from printing.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "coring/detail/await_trace.hpp"
#include "coring/stall_report.hpp"

namespace coring::detail {

class watchdog {
 public:
  struct options {
    std::chrono::milliseconds threshold{0};  // 0: no stall detection
    int signal = 0;                          // 0: none
    std::function<void()> on_signal;
  };

  /// Starts the thread. Throws std::system_error when the signalfd or eventfd cannot be made.
  watchdog(std::vector<const thread_watch*> watched, options o);
  /// Stops and joins the thread; unblocks the signal again in the calling thread if the
  /// constructor blocked it there (destroy it on the thread that made it, as a signal_set).
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  /// Where stall reports go (empty: stderr). Any thread.
  void set_stall_handler(std::function<void(const stall_report&)> handler);

 private:
  void run() noexcept;
  void look() noexcept;
  static void tick_clock() noexcept;

  struct seen {
    std::uint64_t runs = 0;
    std::chrono::steady_clock::time_point since{};
    bool reported = false;
  };

  std::vector<const thread_watch*> watched_;
  std::vector<seen> seen_;  // the watchdog thread's only
  options options_;
  std::mutex handler_mutex_;
  std::shared_ptr<const std::function<void(const stall_report&)>> handler_;  // guarded by handler_mutex_
  int wake_fd_ = -1;
  int signal_fd_ = -1;
  bool unblock_on_exit_ = false;
  std::thread thread_;
};

}  // namespace coring::detail
