// SPDX-License-Identifier: MIT
// The runtime: an io pool, a CPU pool and the registry of their tasks, and how they stop.
//
// Shutdown (shutdown(grace), shutdown() or the destructor; the first call does it, later ones only
// repeat step 5, which finds nothing unless work was spawned meanwhile):
//   1. Grace (only with a grace period): every registered task tree (one that has waited at least
//      once) is asked to stop, as join_handle::cancel() does; the pass repeats every few
//      milliseconds for trees that wait for the first time later, until no spawned task is
//      unfinished or the grace period is over. Nothing is refused yet: tasks finish normally.
//   2. Refuse: every scheduler of the runtime (the io pool, its loops, the CPU pool) is marked shut
//      down. From then on spawn() completes a task at once as canceled, block_on() throws
//      operation_canceled, on(ex) throws it instead of parking the task on a dead pool.
//      The blocking pool is joined: queued jobs are dropped (their tasks resume as canceled),
//      running ones are waited for; later spawn_blocking awaits end at once as canceled.
//   3. CPU workers stop and are joined; what they had queued stays queued.
//   4. Each event loop stops after its turn, cancels every ring op in flight and reaps until the
//      kernel holds none or runtime_options::shutdown_timeout has passed (drain); threads joined.
//   5. The pools hand over what is still queued; the registry destroys every never-started cell
//      among it and every registered tree (root frame first, which destroys awaited children),
//      repeated until a pass finds nothing (a destructor may spawn). If a loop's drain hit the
//      deadline, the kernel may still write into those frames: they are leaked instead, with a
//      message, and the destructor keeps the whole runtime (rings, registry, frames) on a list
//      that lives until exit, so the kernel writes into memory that stays valid and leak checkers
//      see a deliberate leak, not a lost one.
//
// fork(): the child has none of the parent's threads, and the rings are shared with the parent.
// A pthread_atfork child handler marks every runtime of the process as forked: spawn() and
// block_on() then throw logic_error, and the destructor leaks the runtime instead of joining
// threads that do not exist or canceling the parent's ring operations.
#include "coring/runtime.hpp"

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "blocking/blocking_pool.hpp"
#include "io/io_pool.hpp"
#include "observe/task_dump.hpp"
#include "observe/watchdog.hpp"
#include "scheduler/cpu_pool.hpp"
#include "signal/thread_signals.hpp"
#include "task/task_registry.hpp"

namespace coring {

namespace detail {

namespace {

constexpr unsigned max_ring_entries = 32768;  // the kernel's IORING_MAX_ENTRIES
constexpr unsigned max_receive_buffers = 32768;
constexpr unsigned max_blocking_threads = 65536;

void validate(const runtime_options& options) {
  auto reject = [](const std::string& why) {
    throw std::invalid_argument("coring::runtime_options: " + why);
  };
  if (options.ring_entries == 0) reject("ring_entries must be at least 1");
  if (options.ring_entries > max_ring_entries) {
    reject("ring_entries " + std::to_string(options.ring_entries) + " is above the kernel's maximum of " +
           std::to_string(max_ring_entries));
  }
  if (options.receive_buffers == 0 || (options.receive_buffers & (options.receive_buffers - 1)) != 0) {
    reject("receive_buffers " + std::to_string(options.receive_buffers) +
           " is not a power of two (the provided-buffer ring requires one)");
  }
  if (options.receive_buffers > max_receive_buffers) {
    reject("receive_buffers " + std::to_string(options.receive_buffers) +
           " is above the kernel's maximum of " + std::to_string(max_receive_buffers));
  }
  if (options.receive_buffer_size == 0) reject("receive_buffer_size must be at least 1 byte");
  if (options.shutdown_timeout.count() < 0) reject("shutdown_timeout must not be negative");
  if (options.blocking_threads == 0 || options.blocking_threads > max_blocking_threads) {
    reject("blocking_threads " + std::to_string(options.blocking_threads) + " is not 1 to " +
           std::to_string(max_blocking_threads));
  }
  if (options.stall_threshold.count() < 0) reject("stall_threshold must not be negative");
  if (options.dump_signal != 0 &&
      (options.dump_signal < 1 || options.dump_signal > SIGRTMAX || options.dump_signal == SIGKILL ||
       options.dump_signal == SIGSTOP || stays_deliverable(options.dump_signal))) {
    reject("dump_signal " + std::to_string(options.dump_signal) +
           " cannot be waited for (not a signal number, SIGKILL, SIGSTOP, or one coring threads must not "
           "block: a synchronous fault, SIGPIPE, SIGPROF)");
  }
  if (options.io_threads == 0 && options.cpu_threads == 0) {
    reject("io_threads and cpu_threads are both 0: a runtime needs an io pool, a CPU pool or both");
  }
}

unsigned thread_count(unsigned requested) noexcept {
  return requested == one_per_core ? std::max(1u, std::thread::hardware_concurrency()) : requested;
}

}  // namespace

struct runtime_state {
  task_registry registry;
  std::unique_ptr<io_pool> io;
  std::unique_ptr<cpu_pool> cpu;
  std::shared_ptr<blocking_pool> blocking;  // spawn_blocking's threads may outlive the runtime
  std::chrono::milliseconds shutdown_timeout;
  std::mutex shutdown_mutex;
  bool threads_stopped = false;
  bool leaked = false;              // a drain hit its deadline: unfinished tasks are not destroyed
  std::atomic<bool> forked{false};  // this is a fork() child of the process that made the runtime
  runtime_state* prev = nullptr;    // every runtime of the process, for the fork handler
  runtime_state* next = nullptr;
  std::unique_ptr<watchdog> watcher;  // until the threads are stopped
  bool watched = false;  // a watchdog keeps the coarse clock: set before its thread starts, never changed

  explicit runtime_state(const runtime_options& options) : shutdown_timeout(options.shutdown_timeout) {
    validate(options);
    const unsigned io_threads = thread_count(options.io_threads);
    const unsigned cpu_threads = thread_count(options.cpu_threads);
    // More threads than CPUs to run them: an idle spin may keep the thread it waits for off the CPU.
    const bool spin_yields = io_threads + cpu_threads > usable_cpus();
    if (io_threads > 0) {
      io = std::make_unique<io_pool>(
          &registry, io_threads,
          loop_config{options.ring_entries, options.idle_spin, options.receive_buffers,
                      options.receive_buffer_size, spin_yields, options.backend,
                      options.quiet_backend_fallback});
    }
    if (cpu_threads > 0) {
      cpu = std::make_unique<cpu_pool>(&registry,
                                       io != nullptr ? io->loop_pointers() : std::vector<event_loop_impl*>{},
                                       cpu_threads, options.idle_spin, spin_yields);
    }
    blocking = std::make_shared<blocking_pool>(options.blocking_threads);
    registry.set_blocking(blocking.get());
    if (options.stall_threshold.count() > 0 || options.dump_signal != 0) {
      // Not `watcher` itself: the watchdog's thread may dump before make_unique's result is
      // stored, and shutdown() resets it while other threads may still dump.
      watched = true;
      watcher = std::make_unique<watchdog>(
          watches(), watchdog::options{options.stall_threshold, options.dump_signal, [this] {
                                         std::ostringstream text;
                                         text << dump();
                                         std::fputs(text.str().c_str(), stderr);
                                       }});
    }
    enlist(this);
  }

  /// Every io loop's and CPU worker's watch, in that order.
  std::vector<const thread_watch*> watches() const {
    std::vector<const thread_watch*> all;
    if (io) {
      for (unsigned i = 0; i < io->loops().size(); ++i) all.push_back(&io->watch(i));
    }
    if (cpu) {
      for (unsigned i = 0; i < cpu->size(); ++i) all.push_back(&cpu->watch(i));
    }
    return all;
  }

  task_dump dump() const {
    task_dump d;
    const std::uint64_t now_ms = watched ? coarse_now_ms() : 0;
    const auto now_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                       std::chrono::steady_clock::now().time_since_epoch())
                                                       .count());
    registry.visit_registered([&](const task_cell& cell) {
      d.trees.push_back(read_trace(*cell.trace, cell.spawned_at, now_ms, now_ns));
    });
    for (const thread_watch* w : watches()) d.threads.push_back(read_watch(*w));
    const std::uint64_t spawned = registry.spawned();
    const std::uint64_t completed = registry.completed();
    d.unfinished = spawned > completed ? spawned - completed : 0;
    return d;
  }

  void refuse(scheduler::refusal why) noexcept {
    if (cpu) cpu->refuse(why);
    if (io) {
      io->refuse(why);
      io->balanced()->refuse(why);
      for (const auto& loop : io->loops()) loop->refuse(why);
    }
  }

  /// Step 1: returns once no spawned task is unfinished, or at `deadline`.
  void wind_down(std::chrono::steady_clock::time_point deadline) noexcept {
    for (;;) {
      registry.request_stop_all();
      if (registry.completed() >= registry.spawned()) return;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(2)));
    }
  }

  void shutdown(std::chrono::nanoseconds grace) noexcept {
    std::lock_guard lock(shutdown_mutex);
    if (forked.load(std::memory_order_acquire)) return;  // nothing here is ours to stop
    if (!threads_stopped) {
      if (grace.count() > 0) wind_down(std::chrono::steady_clock::now() + grace);
      refuse(scheduler::refusal::shut_down);
      if (const std::size_t running =
              blocking->shutdown(std::chrono::steady_clock::now() + shutdown_timeout)) {
        std::fprintf(
            stderr,
            "coring: shutdown: %zu spawn_blocking jobs still ran after %lld ms; they finish on their "
            "own threads, their tasks are not resumed\n",
            running, static_cast<long long>(shutdown_timeout.count()));
      }
      if (cpu) cpu->stop();
      leaked = io && !io->stop(std::chrono::steady_clock::now() + shutdown_timeout);
      threads_stopped = true;
      watcher.reset();
      if (leaked) {
        std::fprintf(stderr,
                     "coring: shutdown: the kernel still held ring operations after %lld ms; the unfinished "
                     "tasks are leaked rather than freed under it\n",
                     static_cast<long long>(shutdown_timeout.count()));
      }
    }
    // Destroying tasks may queue more work (a destructor that spawns): repeat until none is left.
    std::vector<work_item*> abandoned;
    do {
      abandoned.clear();
      if (cpu) cpu->collect_abandoned(abandoned);
      if (io) io->collect_abandoned(abandoned);
    } while (!leaked && registry.destroy_all(abandoned) > 0);
  }

  // ---- the process's runtimes, for fork() ---------------------------------------------------
  static std::mutex& list_mutex() {
    static std::mutex* const m = new std::mutex;  // never destroyed: a fork may come during exit
    return *m;
  }
  static runtime_state*& list_head() {
    static runtime_state* head = nullptr;
    return head;
  }
  static void enlist(runtime_state* s) {
    static std::once_flag handlers;
    std::call_once(handlers, [] {
      // prepare/parent hold the list still across fork(), so the child sees it whole.
      ::pthread_atfork([] { list_mutex().lock(); }, [] { list_mutex().unlock(); }, &on_fork_child);
    });
    std::lock_guard lock(list_mutex());
    s->next = list_head();
    if (s->next != nullptr) s->next->prev = s;
    list_head() = s;
  }
  static void delist(runtime_state* s) {
    std::lock_guard lock(list_mutex());
    if (s->prev != nullptr) {
      s->prev->next = s->next;
    } else {
      list_head() = s->next;
    }
    if (s->next != nullptr) s->next->prev = s->prev;
  }
  /// A runtime whose rings may still be written to by the kernel: never freed.
  static void keep_until_exit(std::unique_ptr<runtime_state> s) {
    static auto* const kept = new std::vector<std::unique_ptr<runtime_state>>;
    std::lock_guard lock(list_mutex());
    try {
      kept->push_back(std::move(s));
    } catch (...) {
      (void)s.release();  // no memory for the list: leak it unlisted
    }
  }
  static void on_fork_child() {
    for (runtime_state* s = list_head(); s != nullptr; s = s->next) {
      s->forked.store(true, std::memory_order_release);
      s->refuse(scheduler::refusal::forked);
    }
    list_mutex().unlock();  // locked by this same thread in the prepare handler
  }
};

}  // namespace detail

runtime::runtime(runtime_options options) : state_(std::make_unique<detail::runtime_state>(options)) {}

runtime::~runtime() {
  if (!state_) return;
  detail::runtime_state::delist(state_.get());
  if (state_->forked.load(std::memory_order_acquire)) {
    // The parent's threads and rings: nothing here may be joined, canceled or freed.
    (void)state_.release();
    return;
  }
  state_->shutdown(std::chrono::nanoseconds::zero());
  if (state_->leaked) detail::runtime_state::keep_until_exit(std::move(state_));
}

executor runtime::io() const {
  if (!state_->io) {
    throw std::logic_error(
        "coring::runtime::io: this runtime has no io pool (runtime_options::io_threads = 0)");
  }
  return executor{state_->io.get()};
}
executor runtime::io_balanced() const {
  if (!state_->io) {
    throw std::logic_error(
        "coring::runtime::io_balanced: this runtime has no io pool (runtime_options::io_threads = 0)");
  }
  return executor{state_->io->balanced()};
}
executor runtime::cpu() const {
  if (!state_->cpu) {
    throw std::logic_error(
        "coring::runtime::cpu: this runtime has no CPU pool (runtime_options::cpu_threads = 0)");
  }
  return executor{state_->cpu.get()};
}
executor runtime::main_executor() const noexcept {
  return state_->io ? executor{state_->io.get()} : executor{state_->cpu.get()};
}

void runtime::shutdown() noexcept {
  state_->shutdown(std::chrono::nanoseconds::zero());
}

void runtime::shutdown(std::chrono::nanoseconds grace) noexcept {
  state_->shutdown(grace);
}

void runtime::check_block_on_allowed() const {
  if (state_->forked.load(std::memory_order_acquire)) {
    throw std::logic_error(
        "coring::runtime::block_on in a fork() child of the process that made the runtime; make a new "
        "runtime in the child");
  }
  const detail::thread_context& ctx = detail::this_thread();
  if (ctx.pool != nullptr && (ctx.pool == state_->io.get() || ctx.pool == state_->cpu.get())) {
    throw std::logic_error("coring::runtime::block_on called from one of the runtime's own threads");
  }
}

backend_kind runtime::backend() const noexcept {
  if (!state_->io) return backend_kind::automatic;
  return state_->io->loops().front()->kind();
}

runtime_metrics runtime::metrics() const {
  runtime_metrics m;
  const detail::runtime_state& s = *state_;
  m.io_threads = s.io ? static_cast<unsigned>(s.io->loops().size()) : 0;
  m.cpu_threads = s.cpu ? s.cpu->size() : 0;
  m.tasks_completed = s.registry.completed();
  m.tasks_spawned = s.registry.spawned();
  m.tasks_alive = m.tasks_spawned >= m.tasks_completed ? m.tasks_spawned - m.tasks_completed : 0;
  if (s.cpu) {
    m.steals = s.cpu->steals();
    m.cpu_parks = s.cpu->parks();
    m.cpu_queue_depth = s.cpu->queue_depth();
    m.cpu_injected_depth = s.cpu->injected_depth();
    m.workers.reserve(m.cpu_threads);
    for (unsigned i = 0; i < m.cpu_threads; ++i) {
      m.workers.push_back(s.cpu->metrics(i));
      m.cpu_scheduling_delay += m.workers.back().scheduling_delay;
    }
  }
  if (s.blocking) m.blocking = s.blocking->metrics();
  if (!s.io) return m;
  m.loops.reserve(m.io_threads);
  for (unsigned i = 0; i < m.io_threads; ++i) {
    loop_metrics loop = s.io->loops()[i]->metrics();
    loop.tasks_run = s.io->watch(i).runs.load(std::memory_order_relaxed) / 2;  // counted at start and end
    m.io_queue_depth += loop.queue_depth;
    m.timers_pending += loop.timers_pending;
    m.ring_submissions += loop.submissions;
    m.ring_completions += loop.completions;
    m.ring_wakeups += loop.wakeups_received;
    m.io_scheduling_delay += loop.scheduling_delay;
    m.loop_turn_duration += loop.turn_duration;
    m.loops.push_back(std::move(loop));
  }
  return m;
}

task_dump runtime::dump_tasks() const {
  return state_->dump();
}

void runtime::dump_tasks(std::ostream& out) const {
  out << state_->dump();
}

void runtime::set_stall_handler(std::function<void(const stall_report&)> handler) {
  if (state_->watcher) state_->watcher->set_stall_handler(std::move(handler));
}

void runtime::set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler) {
  state_->registry.set_exception_handler(std::move(handler));
}

}  // namespace coring
