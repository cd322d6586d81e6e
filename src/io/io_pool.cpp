// SPDX-License-Identifier: MIT
#include "io/io_pool.hpp"

#include <algorithm>
#include <exception>
#include <future>

#include "observe/thread_watches.hpp"
#include "signal/thread_signals.hpp"

namespace coring::detail {

io_pool::io_pool(task_registry* registry, unsigned threads, const loop_config& config) : scheduler(registry) {
  threads = std::max(1u, threads);
  loops_.reserve(threads);
  loop_config same = config;
  for (unsigned i = 0; i < threads; ++i) {
    loops_.push_back(std::make_unique<event_loop_impl>(registry, same));
    same.backend = loops_.front()->kind();  // what the first chose, the others drive too
    watches_.push_back(std::make_unique<thread_watch>());
    name_watch(*watches_.back(), "io", i);
  }
  std::vector<std::future<void>> started;
  threads_.reserve(threads);
  const coring_thread_mask_scope mask;  // the loops' threads are born with it (thread_signals.hpp)
  for (unsigned i = 0; i < threads; ++i) {
    auto ready = std::make_shared<std::promise<void>>();
    started.push_back(ready->get_future());
    threads_.emplace_back([this, i, ready] {
      try {
        loops_[i]->attach();
      } catch (...) {
        ready->set_exception(std::current_exception());
        return;
      }
      ready->set_value();
      run_loop(i);
    });
  }
  std::exception_ptr failure;
  for (auto& f : started) {
    try {
      f.get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) {
    stop();
    std::rethrow_exception(failure);
  }
}

io_pool::~io_pool() {
  stop();
}

event_loop_impl* io_pool::pick_loop() noexcept {
  const thread_context& ctx = this_thread();
  if (ctx.pool == this) return ctx.loop;
  if (loops_.size() == 1) return loops_.front().get();
  return loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
}

event_loop_impl* io_pool::least_loaded_loop() noexcept {
  const std::size_t n = loops_.size();
  std::size_t best = 0;
  if (n > 1) {
    // Where the scan starts turns per calling thread, so equal loads take turns without a shared
    // counter; a strictly smaller load wins.
    thread_local unsigned rotation = 0;
    const std::size_t start = rotation++ % n;
    best = start;
    std::uint64_t best_load = loops_[start]->load();
    for (std::size_t i = 1; i < n && best_load > 0; ++i) {
      const std::size_t candidate = (start + i) % n;
      const std::uint64_t load = loops_[candidate]->load();
      if (load < best_load) {
        best = candidate;
        best_load = load;
      }
    }
  }
  event_loop_impl* loop = loops_[best].get();
  loop->note_placed();
  return loop;
}

void io_pool::run_loop(unsigned index) noexcept {
  event_loop_impl& loop = *loops_[index];
  thread_context& ctx = this_thread();
  ctx.current = &loop;
  ctx.loop = &loop;
  ctx.pool = this;
  adopt_watch(watches_[index].get());
  try {
    loop.run_until([] { return false; });
  } catch (...) {
    // attach() already succeeded on this thread, so turn() cannot throw; keep noexcept honest.
  }
  const std::chrono::steady_clock::time_point deadline{
      std::chrono::steady_clock::duration(drain_deadline_.load(std::memory_order_acquire))};
  if (!loop.drain(deadline)) drained_.store(false, std::memory_order_release);
  adopt_watch(nullptr);
  ctx = thread_context{};
}

bool io_pool::stop(std::chrono::steady_clock::time_point drain_deadline) noexcept {
  if (stopped_.exchange(true)) return drained_.load(std::memory_order_acquire);
  drain_deadline_.store(drain_deadline.time_since_epoch().count(), std::memory_order_release);
  for (auto& loop : loops_) loop->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return drained_.load(std::memory_order_acquire);
}

}  // namespace coring::detail
