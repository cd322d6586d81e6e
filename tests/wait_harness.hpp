// SPDX-License-Identifier: MIT
// What the wait-cancellation tests share: one wait as an error code, and "park it, cancel it,
// see how it ended" with bounded waits.
#pragma once

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <functional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

namespace coring_test {

/// One wait on a primitive, as an error code: {} when it succeeded, the error (a result's, or a
/// std::system_error's code) when it did not.
using wait_fn = std::function<coring::task<std::error_code>()>;

inline coring::task<std::error_code> run_wait(std::atomic<int>& started, const wait_fn& wait) {
  started.fetch_add(1);
  try {
    co_return co_await wait();
  } catch (const std::system_error& e) {
    co_return e.code();
  }
}

inline coring::task<std::error_code> take(coring::join_handle<std::error_code> h) {
  co_return co_await h;
}

/// Spawns the wait on `ex`, gives it time to park, cancels it and returns how it ended. Bounded:
/// a wait that does not end fails the test (and shutdown destroys it) instead of hanging.
inline std::error_code cancel_parked(coring::runtime& rt, coring::executor ex, const wait_fn& wait) {
  std::atomic<int> started{0};
  auto h = coring::spawn(ex, run_wait(started, wait));
  block_until([&] { return started.load() == 1; });
  std::this_thread::sleep_for(
      std::chrono::milliseconds(20));  // parks meanwhile (a stop before it parks ends it too)
  h.cancel();
  block_until([&] { return h.done(); });
  return rt.block_on(take(std::move(h)));
}

/// Runs `t` on `ex` and waits for it from this (plain) thread.
inline void run_on(coring::runtime& rt, coring::executor ex, coring::task<void> t) {
  auto wait = [](coring::join_handle<void> h) -> coring::task<void> { co_await h; };
  rt.block_on(wait(coring::spawn(ex, std::move(t))));
}

/// Both pools, named for CAPTURE.
inline std::vector<std::pair<const char*, coring::executor>> pools(coring::runtime& rt) {
  return {{"io", rt.io()}, {"cpu", rt.cpu()}};
}

}  // namespace coring_test
