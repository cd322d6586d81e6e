// SPDX-License-Identifier: MIT
// event_loop_impl: one ring (through a backend), one thread, a ready queue and a timer heap.
//
// Members are grouped by who writes them (the banners below): set at construction; the loop
// thread only; the loop thread, read by others (counters, load); and any thread, which is
// everything another thread touches to reach the loop, kept together in `shared_`.
//
// A turn of the loop (turn()):
//   1. take everything other threads posted (shared_.posted) into the ready queue
//   2. run the ready queue (only what was there when the turn began: yield() goes to the next turn)
//   3. fire due timers
//   4. enter the kernel once: submit queued requests and, if nothing is ready, wait for a
//      completion, a wake-up or the next timer deadline; hand every completion to its op
// Before blocking, the loop spins for spin_.budget() watching shared_.posted (a hop from another
// pool is then picked up without a kernel wake-up), then announces shared_.sleeping and re-checks
// shared_.posted before it blocks; a poster that sees shared_.sleeping wakes the ring (Dekker pair
// on shared_.posted and shared_.sleeping).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.hpp"
#include "coring/backend_kind.hpp"
#include "coring/detail/io_op.hpp"
#include "coring/detail/multishot.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/runtime_metrics.hpp"
#include "io/remote_queue.hpp"
#include "io/timer_heap.hpp"
#include "observe/thread_counters.hpp"
#include "park/adaptive_spin.hpp"
#include "task/task_registry.hpp"

namespace coring::detail {

/// How a loop is set up (from runtime_options or event_loop_options).
struct loop_config {
  unsigned ring_entries = 256;
  std::chrono::nanoseconds spin_budget{0};
  unsigned receive_buffers = 512;  // the provided-buffer ring of receive streams
  unsigned receive_buffer_size = 4096;
  bool spin_yields = false;  // more runtime threads than usable CPUs (see adaptive_spin.hpp)
  backend_kind backend = backend_kind::automatic;
  bool quiet_backend_fallback = false;
};

class event_loop_impl final : public scheduler, public completion_listener, private completion_sink {
 public:
  event_loop_impl(task_registry* registry, const loop_config& config);
  ~event_loop_impl();
  event_loop_impl(const event_loop_impl&) = delete;
  event_loop_impl& operator=(const event_loop_impl&) = delete;

  // scheduler
  void schedule(work_item* item) noexcept override;
  void schedule_later(work_item* item) noexcept override;
  bool owns_current_thread() const noexcept override;
  event_loop_impl* io_loop() noexcept override { return this; }
  /// One thread runs everything anyway: a fork only needs to be queued once a sibling waits.
  bool may_run_forks_inline() const noexcept override { return this_thread().loop == this; }

  /// Binds the loop to the calling thread (the ring's single issuer). Called once, by the thread
  /// that will drive the loop; a later call from another thread throws std::logic_error.
  void attach();
  /// One turn; blocks at most until something happens when `may_block`. Returns items run.
  std::size_t turn(bool may_block);
  /// Turns until stop() or until `done()` returns true (checked between turns).
  template <class Done>
  void run_until(Done done) {
    attach();
    while (!shared_.stop_requested.load(std::memory_order_acquire) && !done()) turn(true);
  }
  void stop() noexcept;
  /// For a host loop: binds the loop to the calling thread and returns a descriptor that is
  /// readable whenever a turn has something to do (throws std::system_error if it cannot be made).
  int host_handle();
  /// How long a host may sleep before the next turn: zero when work is ready now, nullopt when
  /// only the descriptor (a completion or wake-up) can bring work. On the loop's thread.
  std::optional<std::chrono::nanoseconds> host_timeout() const noexcept;
  /// A standalone loop's task finished: counts it in `registry` and, from another thread, wakes
  /// the loop (its run() checks for the end of its tasks between turns), guarded like a remote
  /// post: the loop's destructor waits until this returned. Any thread.
  void task_finished(task_registry& registry) noexcept override;
  /// Loop thread: how many of its registry's tasks have finished so far (task_finished calls): a
  /// run() that waits for its tasks to end looks at the registry only when this moved.
  std::uint64_t tasks_finished() const noexcept {
    return finished_here_ + shared_.finished_elsewhere.load(std::memory_order_acquire);
  }
  void reset_stop() noexcept { shared_.stop_requested.store(false, std::memory_order_release); }
  bool stop_requested() const noexcept { return shared_.stop_requested.load(std::memory_order_acquire); }

  /// Cancels every op in flight and reaps until the kernel holds none (or until `deadline`);
  /// nothing is resumed. After the last turn, on the loop's thread. Returns false when the kernel
  /// still holds ops at the deadline, and (doing nothing) when called from another thread while it
  /// holds some: only the owner may submit the cancellations.
  bool drain(
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) noexcept;
  /// After drain(): moves the items that were still queued into `out`, and closes the loop: from
  /// then on schedule() keeps only never-started task cells and drops the rest (see cpu_pool).
  void collect_abandoned(std::vector<work_item*>& out) noexcept;

  /// Loop thread: hands `op` to the kernel or the timer heap.
  void start(io_op& op) noexcept;
  /// Loop thread: processes a stop request for `op`.
  void cancel(io_op& op) noexcept;
  /// Loop thread: completes an op whose stop request arrived before it started.
  void on_deferred_cancel(io_op& op) noexcept;
  /// Loop thread: completes an op with the result already in op.result (see finish_soon()).
  void on_deferred_finish(io_op& op) noexcept { finish(op, op.result); }

  // Multishot requests (multishot.cpp).
  /// Loop thread: a take_next op: hands it the next completion, or parks it until one arrives.
  void take(io_op& op) noexcept;
  /// Loop thread: gives up the multishot (its handle is gone).
  void close(multishot& m) noexcept;
  /// Loop thread: the memory of provided buffer `id`.
  std::byte* buffer_data(std::int32_t id) noexcept { return backend_->buffer_data(id); }
  /// Any thread: gives a provided buffer back to the ring (posted when not on the loop's thread).
  void return_buffer(std::int32_t id) noexcept;
  /// Loop thread: empties `slot` of the registered-file table.
  void close_registered_file(int slot) noexcept { backend_->close_registered_file(slot); }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// Any thread: the loop's counters and histograms (tasks_run is the runtime's to fill in, from
  /// the thread's watch; a standalone loop has none).
  loop_metrics metrics() const noexcept;

  /// How busy the loop is, for io_pool's balanced placement (any thread, relaxed, approximate):
  /// what it had queued, in the kernel and in its timer heap at the end of its last turn, plus the
  /// tasks placed on it since.
  std::uint64_t load() const noexcept {
    const std::uint64_t seen = published_placed_.load(std::memory_order_relaxed);
    const std::uint64_t placed = shared_.placed.load(std::memory_order_relaxed);
    return published_load_.load(std::memory_order_relaxed) + (placed > seen ? placed - seen : 0);
  }
  /// Counts one task placed here by a balancer (any thread).
  void note_placed() noexcept { shared_.placed.fetch_add(1, std::memory_order_relaxed); }
  const char* backend_name() const noexcept { return backend_->describe(); }
  backend_kind kind() const noexcept { return kind_; }

 private:
  void on_completion(io_op& op, int result, completion_flags flags) noexcept override;
  void deliver(multishot& m, int result, completion_flags flags) noexcept;
  void arm(multishot& m) noexcept;
  void discard(multishot& m, const multishot::entry& e) noexcept;
  void recycle_buffer(std::int32_t id) noexcept;
  /// Completes `op` with op.result from the ready queue (never inside the awaiter's await_suspend).
  void finish_soon(io_op& op) noexcept;
  void cancel_take(io_op& op) noexcept;
  void on_ready(io_op& op, int result) noexcept override;
  void on_deadline(io_op& op, int result) noexcept override;
  void finish(io_op& op, int result) noexcept;
  void release(io_op& op) noexcept;
  std::size_t run_ready() noexcept;
  std::size_t fire_timers() noexcept;
  std::optional<std::chrono::nanoseconds> time_to_next_timer() const noexcept;
  bool spin_for_remote() noexcept;
  void report_failed_enter(int error) noexcept;
  /// A completion is handed to the loop: the end of a sampled turn's sleep (see turn()).
  void note_completion() noexcept {
    if (timing_wake_) [[unlikely]] {
      timing_wake_ = false;
      woke_ns_ = monotonic_ns();
    }
  }

  // ---- Set at construction ----------------------------------------------------------------
  std::unique_ptr<backend> backend_;
  backend_kind kind_ = backend_kind::automatic;
  unsigned receive_buffers_;
  unsigned receive_buffer_size_;

  // ---- Written by the loop thread only --------------------------------------------------------
  adaptive_spin spin_;
  local_queue ready_;
  timer_heap timers_;
  bool attached_ = false;
  bool hosted_ = false;  // host_handle() was asked for: a host sleeps between turns
  bool draining_ = false;
  bool timing_wake_ = false;  // a sampled turn sleeps: its first completion notes the time
  std::uint64_t woke_ns_ = 0;
  std::uint64_t turn_count_ = 0;
  std::uint64_t finished_here_ = 0;  // task_finished on the loop's own thread
  void* owner_thread_ = nullptr;
  std::vector<work_item*> abandoned_;
  std::vector<multishot*> starved_;  // receives waiting for a buffer to come back
  struct buffer_return : work_item {
    event_loop_impl* loop;
    std::int32_t id;
  };
  static void on_buffer_return(work_item* item) noexcept;
  std::unique_ptr<buffer_return[]> buffer_returns_;  // one per provided buffer: returns posted to the loop
  unsigned buffers_out_ = 0;  // provided buffers handed to chunks (or queued) and not yet recycled
  int buffers_status_ = 1;    // the receive buffers: 1 not set up yet, 0 ready, < 0 -errno
  int files_status_ = 1;      // the registered-file table: 1 not set up yet, 0 ready, < 0 -errno

  // ---- Written by the loop thread, read by any thread (relaxed: metrics and balancing) --------
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> queue_depth_{0};
  std::atomic<std::uint64_t> timer_count_{0};
  std::atomic<std::uint64_t> published_load_{0};    // at the end of each turn, for load()
  std::atomic<std::uint64_t> published_placed_{0};  // shared_.placed as read at the start of that turn
  std::atomic<std::uint64_t> turns_{0};
  std::atomic<std::uint64_t> parks_{0};
  std::atomic<std::uint64_t> peak_depth_{0};
  std::atomic<std::uint64_t> in_flight_{0};  // at the end of the last turn
  thread_counters thread_counters_;          // the loop thread's, while it turns
  latency_recorder turn_duration_;

  // ---- Written by any thread: what schedule(), stop(), task_finished() and balancers touch -----
  struct any_thread_handle {
    alignas(64) remote_queue posted;                // items for the loop's next turn
    alignas(64) std::atomic<bool> sleeping{false};  // the loop blocks, or is about to: wake it
    std::atomic<bool> stop_requested{false};
    std::atomic<std::uint32_t> posters{0};  // threads inside schedule()'s remote path
    std::atomic<std::uint64_t> wakeups{0};
    std::atomic<std::uint64_t> finished_elsewhere{0};  // task_finished from other threads
    alignas(64) std::atomic<std::uint64_t> placed{0};  // balancers: tasks placed here, ever
    alignas(64) delay_probe probe;
  };
  any_thread_handle shared_;
};

}  // namespace coring::detail
