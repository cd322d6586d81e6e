// SPDX-License-Identifier: MIT
// coring::task_dump: what runtime::dump_tasks() saw of a running runtime, for a person (operator<<
// prints it as a tree) or a program.
//
// Every co_await in a task records its source location (one pointer store) and, while the task is
// suspended, what it waits for; dump_tasks() reads those records without stopping the runtime and
// may be called from any thread, also while tasks move between threads. A snapshot is taken
// per task tree, so trees may be a few events apart from each other.
//
// What it covers: every unfinished tree of the runtime that has waited at least once (a tree that
// never waited is counted in `unfinished` but has nothing to show: it is still queued, or running
// its first stretch, in which case `threads` shows it), and every thread of the runtime. A
// standalone event_loop's tasks are not in any runtime's dump.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

namespace coring {

struct task_dump {
  /// One task tree: a spawned task (or the children of one when_all) and the tasks it awaits.
  struct tree {
    std::source_location spawned_at;  // spawn()'s caller; empty for a when_all's children
    std::string running_on;           // the thread running it now ("io-0", "cpu-1"); empty: suspended
    /// Suspended: since its wait began, to within the watchdog's period (a quarter of
    /// runtime_options::stall_threshold, 25 ms by default). Empty when the runtime has no
    /// watchdog (stall_threshold 0 and no dump_signal).
    std::optional<std::chrono::milliseconds> waiting_for;
    /// The co_await of each frame, from the root's down to the innermost one (the wait itself).
    /// While the tree runs, where it waited last. Frames deeper than 16 share the last entry.
    std::vector<std::source_location> frames;
    /// What the innermost frame waits for: "sleep (due in 12 ms)", "read on fd 7", "channel
    /// receive", ... or the awaiter's type where it does not say.
    std::string wait;
  };
  /// One thread of the runtime.
  struct thread {
    std::string name;                 // "io-0", "cpu-1" (the OS thread is named "coring-io-0")
    bool running = false;             // inside a run of a task now
    std::source_location spawned_at;  // running: where its tree was spawned (empty: not known)
    std::source_location resumed_at;  // running: the co_await it last resumed from (empty: none yet)
  };

  std::vector<tree> trees;
  std::vector<thread> threads;
  std::uint64_t unfinished = 0;  // spawned and not finished, trees that never waited included
};

/// Prints the dump as a tree: one block per task tree, its frames indented under it, the threads last.
std::ostream& operator<<(std::ostream& out, const task_dump& dump);

/// "file:line (function)" for a recorded location; "?" for an empty one.
std::string to_string(const std::source_location& where);

}  // namespace coring
