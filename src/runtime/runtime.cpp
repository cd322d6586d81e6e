// SPDX-License-Identifier: MIT
#include "coring/runtime.hpp"

#include <thread>

#include "io/io_pool.hpp"
#include "runtime/task_registry.hpp"
#include "scheduler/cpu_pool.hpp"

namespace coring {

namespace detail {

struct runtime_state {
  task_registry registry;
  std::unique_ptr<io_pool> io;
  std::unique_ptr<cpu_pool> cpu;
  std::mutex shutdown_mutex;
  bool threads_stopped = false;

  explicit runtime_state(const runtime_options& options) {
    const unsigned cpu_threads =
        options.cpu_threads != 0 ? options.cpu_threads : std::max(1u, std::thread::hardware_concurrency());
    if (options.ring_entries == 0) throw std::invalid_argument("coring::runtime: ring_entries must be > 0");
    // More threads than CPUs to run them: an idle spin may keep the thread it waits for off the CPU.
    const bool spin_yields = std::max(1u, options.io_threads) + cpu_threads > usable_cpus();
    io = std::make_unique<io_pool>(
        &registry, options.io_threads,
        loop_config{options.ring_entries, options.idle_spin, options.receive_buffers,
                    options.receive_buffer_size, spin_yields});
    cpu = std::make_unique<cpu_pool>(&registry, io.get(), cpu_threads, options.idle_spin, spin_yields);
  }

  void shutdown() noexcept {
    std::lock_guard lock(shutdown_mutex);
    if (!threads_stopped) {
      cpu->stop();
      io->stop();
      threads_stopped = true;
    }
    // Destroying tasks may queue more work (a destructor that spawns): repeat until none is left.
    std::vector<work_item*> abandoned;
    do {
      abandoned.clear();
      cpu->collect_abandoned(abandoned);
      io->collect_abandoned(abandoned);
    } while (registry.destroy_all(abandoned) > 0);
  }
};

}  // namespace detail

runtime::runtime(runtime_options options) : state_(std::make_unique<detail::runtime_state>(options)) {}

runtime::~runtime() {
  if (state_) state_->shutdown();
}

executor runtime::io() const noexcept {
  return executor{state_->io.get()};
}
executor runtime::cpu() const noexcept {
  return executor{state_->cpu.get()};
}

void runtime::shutdown() noexcept {
  state_->shutdown();
}

void runtime::check_block_on_allowed() const {
  const detail::thread_context& ctx = detail::this_thread();
  if (ctx.pool == state_->io.get() || ctx.pool == state_->cpu.get()) {
    throw std::logic_error("coring::runtime::block_on called from one of the runtime's own threads");
  }
}

runtime_metrics runtime::metrics() const noexcept {
  runtime_metrics m;
  const detail::runtime_state& s = *state_;
  m.io_threads = static_cast<unsigned>(s.io->loops().size());
  m.cpu_threads = s.cpu->size();
  m.tasks_completed = s.registry.completed();
  m.tasks_spawned = s.registry.spawned();
  m.tasks_alive = m.tasks_spawned >= m.tasks_completed ? m.tasks_spawned - m.tasks_completed : 0;
  m.steals = s.cpu->steals();
  m.cpu_parks = s.cpu->parks();
  m.cpu_queue_depth = s.cpu->queue_depth();
  for (const auto& loop : s.io->loops()) {
    const detail::loop_counters c = loop->counters();
    m.io_queue_depth += c.queue_depth;
    m.timers_pending += c.timers;
    m.ring_submissions += c.submissions;
    m.ring_completions += c.completions;
    m.ring_wakeups += c.wakeups;
  }
  return m;
}

void runtime::set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler) {
  state_->registry.set_exception_handler(std::move(handler));
}

}  // namespace coring
