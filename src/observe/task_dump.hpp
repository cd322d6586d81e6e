// SPDX-License-Identifier: MIT
// Reading the records of await_trace.hpp into the public task_dump.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <typeinfo>

#include "coring/detail/await_trace.hpp"
#include "coring/stall_report.hpp"
#include "coring/task_dump.hpp"

namespace coring::detail {

/// "sleep (due in 12 ms)", "read on fd 7", or the awaiter's demangled type.
std::string describe_wait(const char* kind, int fd, std::uint64_t until_ns, const std::type_info* awaiter,
                          std::uint64_t now_ns);

/// A tree's trace as the dump shows it (under the registry's shard lock). `now_ms` is
/// coarse_now_ms(), or 0 when no watchdog keeps it (no waiting times then); `now_ns` the steady
/// clock in nanoseconds.
task_dump::tree read_trace(const task_trace& trace, std::source_location spawned_at, std::uint64_t now_ms,
                           std::uint64_t now_ns);

task_dump::thread read_watch(const thread_watch& watch);

}  // namespace coring::detail
