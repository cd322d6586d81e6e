// SPDX-License-Identifier: MIT
// coring::runtime_metrics: a plain snapshot of a runtime's counters and latency histograms,
// returned by runtime::metrics(), per event loop and per CPU worker as well as summed.
//
// Counters are read without stopping the runtime, so fields may be a few events apart. Each is
// written by the thread it describes (or, for received wake-ups and suffered steals, by the thread
// that acts on it) with plain relaxed stores, so keeping them costs no locked instruction on the
// paths that spawn, wake and complete. The histograms are sampled: the scheduling delay of one in
// every 64 items a thread schedules, the duration of one in every 16 loop turns.
#pragma once

#include <cstdint>
#include <vector>

#include "coring/latency_histogram.hpp"

namespace coring {

/// One event loop (io thread): its scheduling, its ring and its kernel calls.
struct loop_metrics {
  std::uint64_t tasks_run = 0;         // runs of tasks: queued items and resumptions by completions
  std::uint64_t turns = 0;             // turns of the loop
  std::uint64_t queue_depth = 0;       // ready items at the end of its last turn
  std::uint64_t peak_queue_depth = 0;  // the most ready items one turn found
  std::uint64_t parks = 0;             // turns that slept in the kernel with nothing to run
  std::uint64_t wakeups_sent = 0;      // sleeping threads this loop's tasks woke (loops and workers)
  std::uint64_t wakeups_received = 0;  // times another thread woke this loop
  std::uint64_t submissions = 0;       // requests handed to the kernel
  std::uint64_t completions = 0;       // completions reaped
  std::uint64_t kernel_enters = 0;     // system calls into the ring (or epoll_wait on that backend)
  std::uint64_t sq_full = 0;           // times a request found the submission queue full
  std::uint64_t cq_overflows = 0;      // waits that found completions in the kernel's overflow list
  std::uint64_t in_flight = 0;         // operations in the kernel at the end of its last turn
  std::uint64_t timers_pending = 0;    // sleeping tasks at the end of its last turn
  latency_histogram scheduling_delay;  // from schedule() of an item to its run on this loop
  latency_histogram turn_duration;     // a turn's work, without the time it slept in the kernel
};

/// One CPU worker thread.
struct worker_metrics {
  std::uint64_t tasks_run = 0;
  std::uint64_t queue_depth = 0;       // items in its deque now
  std::uint64_t peak_queue_depth = 0;  // the most its deque held
  std::uint64_t steals = 0;            // items it took from other workers
  std::uint64_t stolen = 0;            // items other workers took from it
  std::uint64_t parks = 0;             // times it went to sleep
  std::uint64_t wakeups_sent = 0;      // sleeping threads it woke
  std::uint64_t wakeups_received = 0;  // times another thread woke it
  latency_histogram scheduling_delay;  // from schedule() of an item to its run on this worker
};

/// The threads behind spawn_blocking().
struct blocking_pool_metrics {
  std::uint64_t threads = 0;       // started and not exited
  std::uint64_t idle_threads = 0;  // of those, waiting for a job
  std::uint64_t queued_jobs = 0;   // waiting for a thread
  std::uint64_t jobs_run = 0;
};

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

  std::vector<loop_metrics> loops;       // one per io thread, in the order of rt.io() indices
  std::vector<worker_metrics> workers;   // one per CPU worker
  std::uint64_t cpu_injected_depth = 0;  // items in the CPU pool's shared queue (not in a deque)
  blocking_pool_metrics blocking;
  latency_histogram io_scheduling_delay;   // the loops' histograms, merged
  latency_histogram cpu_scheduling_delay;  // the workers' histograms, merged
  latency_histogram loop_turn_duration;    // the loops' histograms, merged
};

}  // namespace coring
