// SPDX-License-Identifier: MIT
// coring::stall_report: what the stall detector (runtime_options::stall_threshold) says about a
// thread that has run one task for too long.
//
// A runtime with a threshold above zero has one extra thread that looks at every io loop and CPU
// worker every threshold/4. A thread whose run of one task (from its resumption to its next
// suspension) has lasted longer than the threshold is reported once per such run, to the
// handler given to runtime::set_stall_handler (default: one line on stderr). A thread that is merely busy
// with many short runs, or that sleeps waiting for work, is never reported. The duration is what the run had
// lasted when it was seen: the true length is that or more (up to a quarter of the threshold more when it is
// reported, and it may go on). Typical causes: a blocking system call or lock, a long computation on an io
// loop (move it with co_await on(rt.cpu()) or spawn_blocking).
#pragma once

#include <chrono>
#include <iosfwd>
#include <source_location>
#include <string>

namespace coring {

struct stall_report {
  std::string thread;                   // "io-0", "cpu-1"
  std::chrono::milliseconds duration;   // how long the run had lasted when it was seen
  std::chrono::milliseconds threshold;  // runtime_options::stall_threshold
  std::source_location spawned_at;      // where the stalled task's tree was spawned (empty: not known)
  std::source_location resumed_at;      // the co_await it last resumed from (empty: it has not awaited yet)
};

/// One line: "coring: stall: io-0 has run one task for 312 ms (threshold 100 ms); spawned at ...".
std::string to_string(const stall_report& report);

}  // namespace coring
