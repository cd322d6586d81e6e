// SPDX-License-Identifier: MIT
// coring::runtime_metrics: a plain snapshot of a runtime's counters, returned by runtime::metrics().
// Counters are read without stopping the runtime, so fields may be a few events apart.
#pragma once

#include <cstdint>

namespace coring {

struct runtime_metrics {
  unsigned io_threads = 0;
  unsigned cpu_threads = 0;
  std::uint64_t tasks_spawned = 0;     // spawn() calls, block_on included
  std::uint64_t tasks_completed = 0;   // finished, canceled before start, or destroyed by shutdown
  std::uint64_t tasks_alive = 0;       // spawned and not completed
  std::uint64_t steals = 0;            // tasks a CPU worker took from another worker's deque
  std::uint64_t cpu_parks = 0;         // times a CPU worker went to sleep
  std::uint64_t cpu_queue_depth = 0;   // tasks queued on the CPU pool (deques + injection queue)
  std::uint64_t io_queue_depth = 0;    // ready items queued on the io loops (at their last turn)
  std::uint64_t timers_pending = 0;    // sleeping tasks on the io loops (at their last turn)
  std::uint64_t ring_submissions = 0;  // requests handed to the kernel, all rings
  std::uint64_t ring_completions = 0;  // completions reaped, all rings
  std::uint64_t ring_wakeups = 0;      // times another thread had to wake a sleeping ring
};

}  // namespace coring
