// SPDX-License-Identifier: MIT
#include "scheduler/cpu_pool.hpp"

#include <algorithm>

#include "coring/detail/spin_lock.hpp"
#include "observe/thread_watches.hpp"
#include "signal/thread_signals.hpp"
#include "task/task_registry.hpp"

namespace coring::detail {

namespace {

constexpr std::size_t injected_batch = 128;

}  // namespace

cpu_pool::cpu_pool(task_registry* registry, std::vector<event_loop_impl*> loops, unsigned threads,
                   std::chrono::nanoseconds spin_budget, bool spin_yields)
    : scheduler(registry), loops_(std::move(loops)) {
  threads = std::max(1u, threads);
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<worker>());
    workers_.back()->rng = 0x9e3779b9u * (i + 1);
    workers_.back()->spin = adaptive_spin{spin_budget, spin_yields};
    name_watch(workers_.back()->watch, "cpu", i);
  }
  idle_.reserve(threads);
  const coring_thread_mask_scope mask;  // the workers are born with it (thread_signals.hpp)
  for (unsigned i = 0; i < threads; ++i) {
    workers_[i]->thread = std::thread([this, i] { run_worker(i); });
  }
}

cpu_pool::~cpu_pool() {
  stop();
}

void cpu_pool::stop() noexcept {
  if (stopping_.exchange(true)) return;
  for (auto& w : workers_) w->park.unpark();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

bool cpu_pool::owns_current_thread() const noexcept {
  return this_thread().current == this;
}

bool cpu_pool::may_run_forks_inline() const noexcept {
  const thread_context& ctx = this_thread();
  // A worker whose deque holds work leaves that for thieves and keeps new forks to itself; with
  // an empty deque it forks through the deque, so that idle workers find something to steal.
  return ctx.current == this && workers_[ctx.worker_index]->deque.size() > 0;
}

event_loop_impl* cpu_pool::io_loop() noexcept {
  if (loops_.empty()) return nullptr;  // a CPU-only runtime: I/O here is not supported (start_op)
  const thread_context& ctx = this_thread();
  // A worker always uses the same loop (no shared counter on its path).
  const std::size_t i =
      ctx.current == this ? ctx.worker_index : next_loop_.fetch_add(1, std::memory_order_relaxed);
  return loops_[i % loops_.size()];
}

void cpu_pool::schedule(work_item* item) noexcept {
  if (closed_.load(std::memory_order_relaxed)) [[unlikely]] {
    if (is_unstarted_cell(item)) injected_.push(item);
    return;
  }
  probe_.offer(item);
  thread_context& ctx = this_thread();
  if (ctx.current == this) {
    push_local(*workers_[ctx.worker_index], item);
  } else {
    injected_.push(item);
  }
  notify_one();
}

void cpu_pool::schedule_later(work_item* item) noexcept {
  if (closed_.load(std::memory_order_relaxed)) [[unlikely]]
    return;  // only tasks yield
  probe_.offer(item);
  injected_.push(item);
  notify_one();
}

void cpu_pool::push_local(worker& self, work_item* item) noexcept {
  if (!self.deque.push(item)) injected_.push(item);  // the deque could not grow
}

void cpu_pool::notify_one() noexcept {
  // seq_cst loads, after the push: see the idle protocol in the header.
  if (num_idle_.load(std::memory_order_seq_cst) == 0) return;
  if (searching_.load(std::memory_order_seq_cst) != 0) return;
  unsigned index;
  {
    std::lock_guard lock(idle_mutex_);
    if (idle_.empty()) return;
    index = idle_.back();
    idle_.pop_back();
    num_idle_.fetch_sub(1, std::memory_order_seq_cst);
    // The woken worker starts as a searcher; counting it now stops a burst of pushes from waking
    // every idle worker for one item.
    searching_.fetch_add(1, std::memory_order_seq_cst);
    workers_[index]->searching = true;
    bump(workers_[index]->woken);
  }
  count_wakeup_sent();
  workers_[index]->park.unpark();
}

work_item* cpu_pool::take_injected(worker& self) noexcept {
  std::size_t n = 0;
  const std::size_t share = std::max<std::size_t>(1, injected_.size() / workers_.size());
  work_item* first = injected_.pop_batch(std::min(share, injected_batch), n);
  if (first == nullptr) return nullptr;
  // Run the first, keep the rest locally (others may steal them).
  for (work_item* it = first->next; it != nullptr;) {
    work_item* next = it->next;
    push_local(self, it);
    it = next;
  }
  return first;
}

work_item* cpu_pool::find_local(worker& self) noexcept {
  if (++self.tick % 61 == 0) {
    if (work_item* item = take_injected(self)) return item;
  }
  if (work_item* item = self.deque.pop()) return item;
  return take_injected(self);
}

work_item* cpu_pool::find_remote(worker& self, unsigned index) noexcept {
  const unsigned n = static_cast<unsigned>(workers_.size());
  self.rng ^= self.rng << 13;
  self.rng ^= self.rng >> 17;
  self.rng ^= self.rng << 5;
  const unsigned start = self.rng % n;
  for (unsigned k = 0; k < n; ++k) {
    const unsigned victim = (start + k) % n;
    if (victim == index) continue;
    work_item* batch[work_stealing_deque::max_steal];
    const std::size_t taken = workers_[victim]->deque.steal(batch, work_stealing_deque::max_steal);
    if (taken == 0) continue;
    // The items were written on the victim's core: fetch them all at once, then keep all but the
    // first where others can steal them again, in the order they were spawned.
    for (std::size_t i = 0; i < taken; ++i) __builtin_prefetch(batch[i]);
    for (std::size_t i = taken; i-- > 1;) push_local(self, batch[i]);
    bump(self.steals, taken);
    workers_[victim]->stolen.fetch_add(taken, std::memory_order_relaxed);
    return batch[0];
  }
  return take_injected(self);
}

bool cpu_pool::try_begin_search(worker& self) noexcept {
  if (self.searching) return true;
  // At most half of the workers spin at once.
  const std::uint32_t n = searching_.load(std::memory_order_relaxed);
  if (2 * n >= workers_.size() && n > 0) return false;
  searching_.fetch_add(1, std::memory_order_seq_cst);
  self.searching = true;
  return true;
}

void cpu_pool::end_search(worker& self) noexcept {
  if (!self.searching) return;
  self.searching = false;
  // The last searcher found work: if more is queued, make sure somebody keeps looking. (Waking a
  // worker when nothing is left would put a futex wake on every hop between pools.)
  if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1 && any_work()) notify_one();
}

bool cpu_pool::any_work() const noexcept {
  if (!injected_.empty()) return true;
  for (const auto& w : workers_) {
    if (w->deque.size() > 0) return true;
  }
  return false;
}

void cpu_pool::park(worker& self, unsigned index) noexcept {
  if (self.searching) {
    self.searching = false;
    searching_.fetch_sub(1, std::memory_order_seq_cst);
  }
  {
    std::lock_guard lock(idle_mutex_);
    idle_.push_back(index);
    num_idle_.fetch_add(1, std::memory_order_seq_cst);
  }
  if (any_work() || stopping_.load(std::memory_order_seq_cst)) {
    std::lock_guard lock(idle_mutex_);
    auto it = std::find(idle_.begin(), idle_.end(), index);
    if (it != idle_.end()) {
      idle_.erase(it);
      num_idle_.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    // Someone already took us off the idle list and will unpark us: consume that token below.
  }
  bump(self.parks);
  const auto parked_at = std::chrono::steady_clock::now();
  self.park.park();
  self.spin.woken_after(std::chrono::steady_clock::now() - parked_at);
}

void cpu_pool::run_worker(unsigned index) noexcept {
  thread_context& ctx = this_thread();
  ctx.current = this;
  ctx.pool = this;
  ctx.worker_index = index;
  worker& self = *workers_[index];
  ctx.counters = &self.counters;
  adopt_watch(&self.watch);

  while (!stopping_.load(std::memory_order_relaxed)) {
    work_item* item = find_local(self);
    // One steal attempt before becoming a searcher: a worker that keeps finding work this way
    // (a consumer behind a spawning worker) never touches the shared searcher count.
    if (item == nullptr && !self.searching) item = find_remote(self, index);
    if (item == nullptr && try_begin_search(self)) {
      const auto deadline = std::chrono::steady_clock::now() + self.spin.budget();
      unsigned spins = 0;
      while ((item = find_remote(self, index)) == nullptr) {
        if (stopping_.load(std::memory_order_relaxed)) break;
        if ((++spins & 63) == 0 && std::chrono::steady_clock::now() >= deadline) break;
        self.spin.pause(16);  // back off: polling hammers the victims' deque lines
      }
    }
    if (item != nullptr) {
      end_search(self);
      probe_.take(item, &self.counters);
      const run_scope run(ctx);
      item->run(item);
      continue;
    }
    park(self, index);
  }
  adopt_watch(nullptr);
  ctx = thread_context{};
}

void cpu_pool::collect_abandoned(std::vector<work_item*>& out) noexcept {
  closed_.store(true, std::memory_order_relaxed);
  for (auto& w : workers_) {
    while (work_item* item = w->deque.steal()) out.push_back(item);
  }
  std::size_t n = 0;
  for (work_item* item = injected_.pop_batch(static_cast<std::size_t>(-1), n); item != nullptr;) {
    work_item* next = item->next;
    out.push_back(item);
    item = next;
  }
}

std::uint64_t cpu_pool::steals() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : workers_) total += w->steals.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t cpu_pool::parks() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : workers_) total += w->parks.load(std::memory_order_relaxed);
  return total;
}

worker_metrics cpu_pool::metrics(unsigned index) const noexcept {
  const worker& w = *workers_[index];
  worker_metrics m;
  m.tasks_run = w.watch.runs.load(std::memory_order_relaxed) / 2;  // each run counts at its start and end
  m.queue_depth = static_cast<std::uint64_t>(w.deque.size());
  m.peak_queue_depth = w.deque.peak();
  m.steals = w.steals.load(std::memory_order_relaxed);
  m.stolen = w.stolen.load(std::memory_order_relaxed);
  m.parks = w.parks.load(std::memory_order_relaxed);
  m.wakeups_sent = w.counters.wakeups_sent.load(std::memory_order_relaxed);
  m.wakeups_received = w.woken.load(std::memory_order_relaxed);
  w.counters.scheduling_delay.add_to(m.scheduling_delay);
  return m;
}

std::uint64_t cpu_pool::queue_depth() const noexcept {
  std::uint64_t total = injected_.size();
  for (const auto& w : workers_) total += static_cast<std::uint64_t>(w->deque.size());
  return total;
}

}  // namespace coring::detail
