// SPDX-License-Identifier: MIT
#include "io/event_loop_impl.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "backend/backend_choice.hpp"
#include "coring/detail/spin_lock.hpp"
#include "coring/detail/task_cell.hpp"
#include "task/task_registry.hpp"

namespace coring::detail {

namespace {

std::uint64_t steady_now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// Makes the calling thread belong to `loop` for the duration of a turn.
class thread_binding {
 public:
  explicit thread_binding(event_loop_impl* loop) noexcept : saved_(this_thread()) {
    thread_context& ctx = this_thread();
    if (ctx.loop != loop) {  // io-pool threads are bound for life, standalone loops per turn
      ctx.current = loop;
      ctx.loop = loop;
      ctx.pool = loop;
    }
  }
  ~thread_binding() {
    // The sampling countdown is the thread's, not the turn's: restored, every turn would start
    // from the same count (from 0: one sample, two clock reads, per turn).
    const unsigned countdown = this_thread().probe_countdown;
    this_thread() = saved_;
    this_thread().probe_countdown = countdown;
  }
  thread_binding(const thread_binding&) = delete;
  thread_binding& operator=(const thread_binding&) = delete;

 private:
  thread_context saved_;
};

void submit_posted(work_item* w) noexcept {
  io_op& op = io_op::from_start_item(w);
  op.loop->start(op);
}

void resume_waiter(work_item* w) noexcept {
  io_op::from_start_item(w).waiter.resume();
}

void cancel_posted(work_item* w) noexcept {
  io_op& op = io_op::from_cancel_item(w);
  op.loop->cancel(op);
}

void finish_deferred_cancel(work_item* w) noexcept;

void request_cancel(cancel_hook* hook) noexcept {
  io_op* op = static_cast<io_op*>(hook);
  // Take a reference unless the op already completed: the loop drops it after handling the request,
  // so the op (in the task's frame) outlives the request.
  std::uint32_t p = op->pending.load(std::memory_order_acquire);
  do {
    if (p == 0) return;
  } while (
      !op->pending.compare_exchange_weak(p, p + 1, std::memory_order_acq_rel, std::memory_order_acquire));
  op->cancel_item()->run = &cancel_posted;
  op->loop->schedule(op->cancel_item());
}

}  // namespace

// ---- the task side ---------------------------------------------------------------------------

bool start_op(io_op& op, std::coroutine_handle<> awaiting, task_root* root) noexcept {
  cancel_scope* scope = root != nullptr ? &static_cast<task_cell*>(root)->scope : nullptr;
  thread_context& ctx = this_thread();
  op.waiter = awaiting;
  op.home = ctx.current;
  event_loop_impl* loop = op.loop != nullptr ? op.loop : ctx.loop;  // preset: bound to one loop
  if (loop == nullptr && op.home != nullptr) loop = op.home->io_loop();
  if (loop == nullptr) {
    op.result = -ENOTSUP;  // awaited outside any runtime or event loop
    return false;
  }
  op.loop = loop;
  if (scope != nullptr && scope->stop_requested()) {
    op.result = -ECANCELED;
    return false;
  }
  before_suspend(root);
  op.pending.store(1, std::memory_order_relaxed);
  // Registered before the op starts: once started it may complete (and resume the task) on
  // another thread at any moment.
  if (scope != nullptr) {
    op.on_stop = &request_cancel;
    if (scope->add(op)) {
      op.scope = scope;
    } else {
      request_cancel(&op);  // stop was requested in between: cancel at once
    }
  }
  if (loop == ctx.loop) {
    loop->start(op);
  } else {
    op.start_item()->run = &submit_posted;
    loop->schedule(op.start_item());
  }
  return true;
}

// ---- the loop --------------------------------------------------------------------------------

event_loop_impl::event_loop_impl(task_registry* registry, const loop_config& config)
    : scheduler(registry),
      backend_(nullptr),
      receive_buffers_(config.receive_buffers),
      receive_buffer_size_(config.receive_buffer_size),
      spin_(config.spin_budget, config.spin_yields) {
  chosen_backend chosen = make_backend(config.backend, config.ring_entries, config.quiet_backend_fallback);
  backend_ = std::move(chosen.made);
  kind_ = chosen.kind;
}

event_loop_impl::~event_loop_impl() {
  while (shared_.posters.load(std::memory_order_acquire) != 0) cpu_relax();
}

void event_loop_impl::attach() {
  const void* me = &this_thread();
  if (attached_) {
    if (owner_thread_ != me) {
      throw std::logic_error("coring: an event_loop must be driven by the thread that first ran it");
    }
    return;
  }
  backend_->attach_to_current_thread();
  owner_thread_ = const_cast<void*>(me);
  attached_ = true;
}

bool event_loop_impl::owns_current_thread() const noexcept {
  return this_thread().loop == this;
}

void event_loop_impl::schedule(work_item* item) noexcept {
  if (closed_.load(std::memory_order_relaxed)) [[unlikely]] {
    if (is_unstarted_cell(item)) shared_.posted.push(item);
    return;
  }
  shared_.probe.offer(item);
  if (this_thread().loop == this) {
    ready_.push(item);
    return;
  }
  // The pushed item may be the last thing the loop waits for: once it ran, the loop's owner may
  // destroy the loop while this thread is still here, so the destructor waits for shared_.posters.
  shared_.posters.fetch_add(1, std::memory_order_seq_cst);
  shared_.posted.push(item);
  // seq_cst load after the push: pairs with the shared_.sleeping store + re-check in turn().
  if (shared_.sleeping.load(std::memory_order_seq_cst) &&
      shared_.sleeping.exchange(false, std::memory_order_seq_cst)) {
    shared_.wakeups.fetch_add(1, std::memory_order_relaxed);
    count_wakeup_sent();
    backend_->wake();
  }
  shared_.posters.fetch_sub(1, std::memory_order_release);
}

void event_loop_impl::task_finished(task_registry& registry) noexcept {
  if (owns_current_thread()) {
    registry.count_completion();
    ++finished_here_;
    return;
  }
  shared_.posters.fetch_add(1, std::memory_order_seq_cst);  // see schedule()
  registry.count_completion();
  // After the count, which tasks_finished()'s reader then sees.
  shared_.finished_elsewhere.fetch_add(1, std::memory_order_release);
  shared_.wakeups.fetch_add(1, std::memory_order_relaxed);
  count_wakeup_sent();
  backend_->wake();
  shared_.posters.fetch_sub(1, std::memory_order_release);
}

void event_loop_impl::schedule_later(work_item* item) noexcept {
  schedule(item);
}

void event_loop_impl::stop() noexcept {
  shared_.stop_requested.store(true, std::memory_order_seq_cst);
  shared_.sleeping.store(false, std::memory_order_relaxed);
  backend_->wake();
}

int event_loop_impl::host_handle() {
  attach();
  const int fd = backend_->readiness_fd();
  if (fd < 0) throw std::system_error(-fd, std::system_category(), "coring: event_loop::native_handle()");
  hosted_ = true;
  backend_->flush();  // the wake-up read goes to the kernel now, not at the first turn
  // Until the first turn, work from other threads must signal the descriptor too.
  shared_.sleeping.store(true, std::memory_order_seq_cst);
  if (!shared_.posted.empty()) backend_->wake();
  return fd;
}

std::optional<std::chrono::nanoseconds> event_loop_impl::host_timeout() const noexcept {
  if (!ready_.empty() || !shared_.posted.empty() || backend_->completions_pending()) {
    return std::chrono::nanoseconds::zero();
  }
  return time_to_next_timer();
}

std::size_t event_loop_impl::turn(bool may_block) {
  attach();
  thread_binding binding(this);
  this_thread().counters = &thread_counters_;
  // One turn in 16 is timed: two clock reads per turn would cost a hop between pools ~5%.
  const bool timed = (++turn_count_ & 15) == 0;
  const std::uint64_t started = timed ? monotonic_ns() : 0;
  std::size_t handled = 0;
  const std::uint64_t placed = shared_.placed.load(std::memory_order_relaxed);  // before the take: see load()
  ready_.push_list(shared_.posted.take_all());
  raise_peak(peak_depth_, ready_.size());
  handled += run_ready();
  handled += fire_timers();

  // Block only after a turn that found nothing to do: a turn that ran tasks returns first, so the
  // caller can look at its exit condition (a task it waits for may have just finished), and
  // before that it spins briefly for work from other threads.
  std::optional<std::chrono::nanoseconds> timeout = std::chrono::nanoseconds::zero();
  if (handled > 0) {
    if (spin_.budget().count() > 0 && may_block && ready_.empty()) {
      backend_->flush();  // what the turn's tasks asked for goes out before the loop spins
      (void)spin_for_remote();
    }
  } else if (may_block && ready_.empty() && !stop_requested()) {
    timeout = time_to_next_timer();
  }
  if (!timeout || timeout->count() > 0) {
    shared_.sleeping.store(true, std::memory_order_seq_cst);
    if (!shared_.posted.empty() || stop_requested()) timeout = std::chrono::nanoseconds::zero();
  }
  const bool blocks = !timeout || timeout->count() > 0;
  const auto slept_at = blocks ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  if (timed && blocks) {
    timing_wake_ = true;
    woke_ns_ = 0;
  }
  handled += backend_->wait(*this, timeout);
  timing_wake_ = false;
  shared_.sleeping.store(false, std::memory_order_relaxed);
  // Completions reaped just now signaled the host's descriptor: clear it. What completes later
  // signals it again; what completed in between is still in the ring, and host_timeout() sees it.
  if (hosted_) backend_->clear_readiness();
  if (const int error = backend_->take_failure_report(); error != 0) [[unlikely]] {
    report_failed_enter(error);
  }
  // Woken by another thread's work (not by a timer or I/O): adapt the spin to that hand-off.
  if (blocks && !shared_.posted.empty()) spin_.woken_after(std::chrono::steady_clock::now() - slept_at);
  queue_depth_.store(ready_.size(), std::memory_order_relaxed);
  timer_count_.store(timers_.size(), std::memory_order_relaxed);
  const std::size_t in_flight = backend_->in_flight();
  published_load_.store(ready_.size() + in_flight + timers_.size(), std::memory_order_relaxed);
  published_placed_.store(placed, std::memory_order_relaxed);
  in_flight_.store(in_flight, std::memory_order_relaxed);
  bump(turns_);
  if (blocks) bump(parks_);
  if (hosted_) {
    // The ring must hold what it needs to signal the descriptor: the wake-up read re-armed during
    // the reap, requests made by completion handlers. The loop's own wait would submit them.
    backend_->flush();
    // The host sleeps in its own poll until the descriptor is readable: from now on work from
    // other threads wakes it (wake() signals the descriptor too), as if this loop slept in its
    // own wait. Work queued just before is caught by the re-check.
    shared_.sleeping.store(true, std::memory_order_seq_cst);
    if (!shared_.posted.empty() && shared_.sleeping.exchange(false, std::memory_order_seq_cst))
      backend_->wake();
  }
  if (timed) {
    // The turn's work: its time less the sleep, which ends when the first completion comes in
    // (the reap after it, and the tasks it resumes, are work) or when the wait returns.
    const std::uint64_t ended = monotonic_ns();
    std::uint64_t asleep = 0;
    if (blocks) {
      const auto fell_asleep = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(slept_at.time_since_epoch()).count());
      const std::uint64_t woke = woke_ns_ != 0 ? woke_ns_ : ended;
      asleep = woke > fell_asleep ? woke - fell_asleep : 0;
    }
    const std::uint64_t total = ended > started ? ended - started : 0;
    turn_duration_.record(total > asleep ? total - asleep : 0);
  }
  return handled;
}

void event_loop_impl::report_failed_enter(int error) noexcept {
  // Through the handler for errors nobody else sees: the requests themselves fail with `error`.
  try {
    registry()->report(std::make_exception_ptr(std::system_error(
        error, std::system_category(),
        "coring: a system call into an event loop's io_uring failed; the requests it was to submit "
        "failed with this error, later ones try the ring again")));
  } catch (...) {
    // No memory for the report: the failed requests still say what happened.
  }
}

bool event_loop_impl::spin_for_remote() noexcept {
  const auto start = std::chrono::steady_clock::now();
  auto deadline = start + spin_.budget();
  // A timer due during the spin ends it: the spin is for work from other threads, not a delay.
  if (!timers_.empty()) {
    const auto next_timer =
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(timers_.next_deadline()));
    if (next_timer < deadline) deadline = next_timer;
  }
  for (unsigned spins = 1;; ++spins) {
    if (!shared_.posted.empty() || stop_requested() || backend_->completions_pending()) return true;
    if ((spins & 63) == 0 && std::chrono::steady_clock::now() >= deadline) return false;
    spin_.pause(1);
  }
}

std::size_t event_loop_impl::run_ready() noexcept {
  // Only what is queued now: work queued while running (yield) waits for the next turn, after I/O.
  std::size_t n = ready_.size();
  const std::size_t total = n;
  thread_context& ctx = this_thread();
  while (n-- > 0) {
    work_item* item = ready_.pop();
    shared_.probe.take(item, &thread_counters_);
    const run_scope run(ctx);
    item->run(item);
  }
  return total;
}

std::size_t event_loop_impl::fire_timers() noexcept {
  if (timers_.empty()) return 0;
  const std::uint64_t now = steady_now_ns();
  std::size_t fired = 0;
  while (!timers_.empty() && timers_.next_deadline() <= now) {
    io_op* op = timers_.top();
    timers_.remove(op);
    // A timer given a deadline before its own end was moved to the deadline (see start()).
    finish(*op, op->deadline != 0 && op->deadline == op->args.timer.when ? -ETIMEDOUT : 0);
    ++fired;
  }
  return fired;
}

std::optional<std::chrono::nanoseconds> event_loop_impl::time_to_next_timer() const noexcept {
  if (timers_.empty()) return std::nullopt;
  const std::uint64_t now = steady_now_ns();
  const std::uint64_t deadline = timers_.next_deadline();
  if (deadline <= now) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(deadline - now);
}

void event_loop_impl::start(io_op& op) noexcept {
  if (draining_) return;
  if (op.cancel_requested) {
    // A stop request overtook the op: complete it without starting, but never inside the
    // awaiter's await_suspend (start may be called from there), so go through the ready queue.
    op.start_item()->run = &finish_deferred_cancel;
    ready_.push(op.start_item());
    return;
  }
  if (op.code == op_code::take_next) {
    take(op);
    return;
  }
  if (op.code == op_code::timer) {
    if (op.deadline != 0 && op.deadline < op.args.timer.when) op.args.timer.when = op.deadline;
    timers_.push(&op);
    return;
  }
  if (op.code == op_code::register_file && files_status_ != 0) {
    if (files_status_ == 1) {
      // As many slots as the process may have descriptors (the kernel's own limit), at most 64 Ki.
      rlimit limit{};
      const rlim_t wanted = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
      files_status_ =
          backend_->enable_registered_files(static_cast<unsigned>(std::min<rlim_t>(wanted, 65536)));
    }
    if (files_status_ < 0) {
      op.result = files_status_;
      finish_soon(op);
      return;
    }
  }
  op.in_kernel = true;
  backend_->submit(op);
}

void release_registered_file(event_loop_impl* loop, int slot) noexcept {
  struct slot_release : work_item {
    event_loop_impl* loop;
    int slot;
  };
  if (loop == nullptr) return;
  if (this_thread().loop == loop) {
    loop->close_registered_file(slot);
    return;
  }
  if (loop->closed()) return;  // the ring goes away with its table
  auto* release = new (std::nothrow) slot_release;
  if (release == nullptr) return;
  release->loop = loop;
  release->slot = slot;
  release->run = [](work_item* w) noexcept {
    auto* r = static_cast<slot_release*>(w);
    r->loop->close_registered_file(r->slot);
    delete r;
  };
  loop->schedule(release);
}

namespace {
void finish_deferred_cancel(work_item* w) noexcept {
  io_op& op = io_op::from_start_item(w);
  op.loop->on_deferred_cancel(op);
}
}  // namespace

void event_loop_impl::on_deferred_cancel(io_op& op) noexcept {
  finish(op, -ECANCELED);
}

void event_loop_impl::cancel(io_op& op) noexcept {
  if (!op.finished && !op.cancel_requested) {
    op.cancel_requested = true;
    if (op.code == op_code::timer) {
      if (timers_.contains(&op)) {
        timers_.remove(&op);
        finish(op, -ECANCELED);
      }
    } else if (op.code == op_code::take_next) {
      cancel_take(op);
    } else if (op.in_kernel) {
      backend_->cancel(op);
    }
  }
  release(op);  // the stop request's reference
}

namespace {

/// Whether an op that failed with EINTR or EAGAIN may simply run again: everything but close (a
/// close that reported EINTR has released the descriptor) and timers, which never reach the ring.
bool may_retry(const io_op& op, int result) noexcept {
  if (result != -EINTR && result != -EAGAIN) return false;
  if (op.cancel_requested || op.timed_out) return false;
  return op.code != op_code::close && op.code != op_code::timer &&
         !(result == -EAGAIN && op.code == op_code::poll);
}

}  // namespace

void event_loop_impl::on_completion(io_op& op, int result, completion_flags flags) noexcept {
  note_completion();
  if (op.code == op_code::accept_multishot || op.code == op_code::recv_multishot) {
    deliver(static_cast<multishot&>(op), result, flags);
    return;
  }
  if (flags.more) {
    // A zero-copy send: this is its result; the notification that the kernel is done with the
    // buffer follows, and only then may the task (and its buffer) go on.
    op.result = result;
    return;
  }
  if (flags.notification) result = op.result;
  if (!draining_ && may_retry(op, result)) {
    // EINTR: run it again. EAGAIN (a request made with MSG_DONTWAIT, or a descriptor the kernel
    // would not wait on): wait for readiness with a poll first, then run it again. A deadline stays
    // the same absolute time across retries.
    op.awaiting_readiness = result == -EAGAIN;
    backend_->submit(op);
    return;
  }
  if (op.cancel_requested && (result == -EINTR || result == -EAGAIN)) result = -ECANCELED;
  finish(op, result);
}

void event_loop_impl::on_ready(io_op& op, int result) noexcept {
  note_completion();
  op.awaiting_readiness = false;
  if (result < 0 || op.cancel_requested || draining_) {
    finish(op, result < 0 ? result : -ECANCELED);
    return;
  }
  backend_->submit(op);
}

void event_loop_impl::on_deadline(io_op& op, int result) noexcept {
  note_completion();
  if (result == -ETIME) op.timed_out = true;
  release(op);
}

void event_loop_impl::finish(io_op& op, int result) noexcept {
  op.finished = true;
  op.result = result;
  release(op);
}

void event_loop_impl::release(io_op& op) noexcept {
  if (op.pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (draining_) return;  // shutdown: frames are destroyed, not resumed
  // The linked timeout canceled the op (its completion and the op's may come in either order).
  if (op.timed_out && op.result == -ECANCELED) op.result = -ETIMEDOUT;
  if (op.home == this) {
    const run_scope run(this_thread());
    op.waiter.resume();
  } else {
    op.start_item()->run = &resume_waiter;
    op.home->schedule(op.start_item());
  }
}

bool event_loop_impl::drain(std::chrono::steady_clock::time_point deadline) noexcept {
  if (attached_ && owner_thread_ != &this_thread() && backend_->in_flight() > 0) return false;
  draining_ = true;
  backend_->cancel_all();
  timers_.clear();
  ready_.push_list(shared_.posted.take_all());
  while (work_item* item = ready_.pop()) abandoned_.push_back(item);
  if (attached_) {
    while (backend_->in_flight() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;  // the caller leaks what the kernel may still write
      backend_->wait(*this,
                     std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(100)));
    }
  }
  return true;
}

void event_loop_impl::collect_abandoned(std::vector<work_item*>& out) noexcept {
  closed_.store(true, std::memory_order_relaxed);
  // Items posted after drain() (by other stopping threads) are still in shared_.posted.
  ready_.push_list(shared_.posted.take_all());
  while (work_item* item = ready_.pop()) abandoned_.push_back(item);
  out.insert(out.end(), abandoned_.begin(), abandoned_.end());
  abandoned_.clear();
}

loop_metrics event_loop_impl::metrics() const noexcept {
  const backend_counters b = backend_->counters();
  loop_metrics m;
  m.turns = turns_.load(std::memory_order_relaxed);
  m.queue_depth = queue_depth_.load(std::memory_order_relaxed);
  m.peak_queue_depth = peak_depth_.load(std::memory_order_relaxed);
  m.parks = parks_.load(std::memory_order_relaxed);
  m.wakeups_sent = thread_counters_.wakeups_sent.load(std::memory_order_relaxed);
  m.wakeups_received = shared_.wakeups.load(std::memory_order_relaxed);
  m.submissions = b.submissions;
  m.completions = b.completions;
  m.kernel_enters = b.enters;
  m.sq_full = b.sq_full;
  m.cq_overflows = b.cq_overflows;
  m.in_flight = in_flight_.load(std::memory_order_relaxed);
  m.timers_pending = timer_count_.load(std::memory_order_relaxed);
  thread_counters_.scheduling_delay.add_to(m.scheduling_delay);
  turn_duration_.add_to(m.turn_duration);
  return m;
}

}  // namespace coring::detail
