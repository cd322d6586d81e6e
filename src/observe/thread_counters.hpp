// SPDX-License-Identifier: MIT
// What runtime::metrics() reads per thread (runtime_metrics.hpp): counters and latency recorders
// that one thread writes with relaxed load + store (no locked instruction on the hot paths) and
// any thread reads, and the probe that samples scheduling delay.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "coring/detail/scheduler.hpp"
#include "coring/latency_histogram.hpp"

namespace coring::detail {

/// Adds one to a counter only its owner thread writes.
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

/// Raises a peak only its owner thread writes.
inline void raise_peak(std::atomic<std::uint64_t>& peak, std::uint64_t value) noexcept {
  if (value > peak.load(std::memory_order_relaxed)) peak.store(value, std::memory_order_relaxed);
}

inline std::uint64_t monotonic_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// One thread's histogram: written by that thread, merged by readers.
class latency_recorder {
 public:
  void record(std::uint64_t ns) noexcept {
    bump(counts_[latency_histogram::bucket_of(ns)]);
    bump(sum_ns_, ns);
  }
  void add_to(latency_histogram& into) const noexcept {
    for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i)
      into.counts[i] += counts_[i].load(std::memory_order_relaxed);
    into.sum_ns += sum_ns_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> counts_[latency_histogram::bucket_count] = {};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// What every runtime thread that runs tasks counts about itself, reached through
/// this_thread().counters by code that does not know which pool it runs on.
struct thread_counters {
  std::atomic<std::uint64_t> wakeups_sent{0};
  latency_recorder scheduling_delay;
};

/// A thread woke a sleeping loop or worker for work it queued there.
inline void count_wakeup_sent() noexcept {
  if (thread_counters* counters = this_thread().counters) bump(counters->wakeups_sent);
}

/// Samples the scheduling delay of a scheduler's items: at most one item at a time carries a
/// schedule() time, chosen by the scheduling thread once in every `interval` calls; the thread
/// that runs it records how long it waited. Costs a thread-local decrement per schedule() and one
/// relaxed load per run. An item never run (abandoned at shutdown) ends the sampling.
class delay_probe {
 public:
  static constexpr unsigned interval = 64;

  /// Any thread, when it schedules `item`.
  void offer(work_item* item) noexcept {
    thread_context& ctx = this_thread();
    if (ctx.probe_countdown-- != 0) [[likely]]
      return;
    ctx.probe_countdown = interval - 1;
    work_item* expected = nullptr;
    if (sampled_.load(std::memory_order_relaxed) != nullptr ||
        !sampled_.compare_exchange_strong(expected, claiming(), std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
      return;  // a sample is pending, or another thread is placing one
    }
    scheduled_ns_.store(monotonic_ns(), std::memory_order_relaxed);
    sampled_.store(item, std::memory_order_release);
  }

  /// The thread about to run `item`.
  void take(work_item* item, thread_counters* counters) noexcept {
    if (sampled_.load(std::memory_order_acquire) != item) [[likely]]
      return;
    const std::uint64_t scheduled = scheduled_ns_.load(std::memory_order_relaxed);
    sampled_.store(nullptr, std::memory_order_release);  // after the read: the next offer may write
    const std::uint64_t now = monotonic_ns();
    if (counters != nullptr) counters->scheduling_delay.record(now > scheduled ? now - scheduled : 0);
  }

 private:
  static work_item* claiming() noexcept { return reinterpret_cast<work_item*>(alignof(work_item)); }

  std::atomic<work_item*> sampled_{nullptr};
  std::atomic<std::uint64_t> scheduled_ns_{0};
};

}  // namespace coring::detail
