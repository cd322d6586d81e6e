// SPDX-License-Identifier: MIT
// Helpers shared by the tests.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <coring/runtime.hpp>
#include <coring/sleep.hpp>
#include <coring/spawn.hpp>
#include <coring/task.hpp>
#include <coroutine>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

namespace coring_test {

/// Counts live instances, to prove that frames (and what they own) are destroyed.
struct counted {
  static inline std::atomic<int> alive{0};
  counted() noexcept { alive.fetch_add(1); }
  counted(const counted&) noexcept { alive.fetch_add(1); }
  ~counted() { alive.fetch_sub(1); }
};

inline std::thread::id this_id() noexcept {
  return std::this_thread::get_id();
}

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "coring_test") {
    std::string name = "/tmp/" + std::string(prefix) + ".XXXXXX";
    REQUIRE(::mkdtemp(name.data()) != nullptr);
    path_ = name;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }
  std::string path(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

/// Restores SIGPIPE's default action (kill the process) for the test's lifetime, so that a write
/// that raised it instead of giving an error ends the run.
class default_sigpipe {
 public:
  default_sigpipe() {
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    REQUIRE(::sigaction(SIGPIPE, &action, &saved_) == 0);
  }
  ~default_sigpipe() { ::sigaction(SIGPIPE, &saved_, nullptr); }
  default_sigpipe(const default_sigpipe&) = delete;
  default_sigpipe& operator=(const default_sigpipe&) = delete;

 private:
  struct sigaction saved_ {};
};

/// The runtime most tests use: one io loop, two CPU workers.
inline coring::runtime_options small_runtime() noexcept {
  return {.io_threads = 1, .cpu_threads = 2};
}

/// Polls (with timed sleeps, from a task) until `pred` holds.
template <class Pred>
coring::task<void> wait_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) (void)co_await coring::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(pred());
}

/// Polls from a thread outside the runtime.
template <class Pred>
void block_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(pred());
}

/// A task run by hand on the test thread, outside any runtime: a waiter it parks has no home, so
/// waking it resumes it inline, inside the call that wakes it. Makes the order of events exact.
template <class T = void>
class by_hand {
 public:
  explicit by_hand(coring::task<T> t) : frame_(t.release()) { frame_.resume(); }
  ~by_hand() { frame_.destroy(); }
  by_hand(const by_hand&) = delete;
  by_hand& operator=(const by_hand&) = delete;

  bool done() const { return frame_.done(); }
  decltype(auto) take() { return frame_.promise().take(); }

 private:
  std::coroutine_handle<typename coring::task<T>::promise_type> frame_;
};

/// Tasks that sleep for an hour, counting how many fell asleep and how many were woken by a
/// cancellation (which they take as their result, without throwing).
struct hour_sleepers {
  std::atomic<int> asleep{0};
  std::atomic<int> canceled{0};

  coring::task<void> sleeper() {
    asleep.fetch_add(1);
    auto r = co_await coring::sleep_for(std::chrono::hours(1));
    if (r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
  }
};

/// Spawns `parent` on `ex`, waits until `expected` of `sleepers` are asleep, cancels it, joins it.
inline coring::task<void> cancel_once_asleep(coring::executor ex, coring::task<void> parent,
                                             hour_sleepers& sleepers, int expected) {
  auto h = coring::spawn(ex, std::move(parent));
  while (sleepers.asleep.load() < expected) (void)co_await coring::sleep_for(std::chrono::milliseconds(1));
  h.cancel();
  co_await h;
}

}  // namespace coring_test
