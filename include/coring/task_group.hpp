// SPDX-License-Identifier: MIT
// coring::task_group: a set of child tasks that ends together (structured concurrency, like
// Tokio's JoinSet or P2300's async_scope).
//
//   coring::task_group group{{.max_concurrent = 8}};
//   for (auto& url : urls) group.spawn(rt.io(), fetch(url));
//   co_await group.join();   // every child finished; rethrows the first failure
//
//   coring::basic_task_group<std::size_t> sizes;            // keeps the children's values
//   for (auto& url : urls) sizes.spawn(rt.io(), fetch_size(url));
//   while (auto size = co_await sizes.join_next()) total += *size;   // in the order they finish
//
// spawn() starts a child at once on the given pool (it waits for a slot first when
// max_concurrent children are already running). The first child that throws asks all the others
// to stop. cancel() asks every child (and any spawned later) to stop: their sleeps and ring
// operations complete with operation_canceled. A stop request for the task awaiting join() or
// join_next() reaches every child. join() is then a cancellation point that still waits for every
// child to end (nothing outlives it), then throws std::system_error(errc::operation_canceled) (or
// rethrows the first failure, if a child threw).
//
// Results. basic_task_group<T> keeps each finished child's outcome (its T value or its exception)
// until it is taken; task_group (basic_task_group<void>) accepts tasks of any type and discards
// their values. Every outcome is taken exactly once:
// - join_next() gives the next outcome in the order the children finished: the child's value
//   (std::monostate for task_group), or rethrows that child's exception (a child canceled before
//   it started: std::system_error(operation_canceled)); std::nullopt once no child is left.
// - join() waits for every child (also those spawned while waiting) and takes every outcome
//   join_next() did not: it discards the values, rethrows the first of those exceptions, and hands
//   the others to the runtime's unhandled-exception handler (except std::system_error(
//   operation_canceled) from a child that had been asked to stop: that is how a stopped child
//   ends). A child canceled before it started is no failure for join().
// Mixing them is fine (join_next() for some results, then join() for the rest). After join()
// returns, or join_next() returns std::nullopt, the group is empty and no longer canceled: it can
// be used again. size() counts the children not taken yet (running, or finished and not taken).
//
// Thread safety: spawn(), cancel() and size() may be called from any thread; join() and
// join_next() by one task at a time, which is not a child of the group.
// Lifetime: join() must have returned (or join_next() std::nullopt) before the group is
// destroyed. Destroying a group with children not taken is an error: the children are asked to
// stop and detached, a std::logic_error goes to the runtime's unhandled-exception handler, and so
// do the exceptions of those children (never a silent loss).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "coring/async_semaphore.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/detail/unhandled.hpp"
#include "coring/detail/waiter.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

struct task_group_options {
  /// How many children may run at once (the others wait, queued in the group, before they start).
  std::size_t max_concurrent = async_semaphore::max_permits;
};

/// T: the type of the children's values (void: task_group, values discarded).
template <class T = void>
class basic_task_group {
  static_assert(!std::is_reference_v<T>, "coring::basic_task_group keeps values: use a value type");

 public:
  /// What join_next() gives for a child that finished normally.
  using value_type = detail::value_or_monostate<T>;

  explicit basic_task_group(task_group_options options = {})
      : state_(std::make_shared<shared_state>(check(options.max_concurrent))) {}
  basic_task_group(const basic_task_group&) = delete;
  basic_task_group& operator=(const basic_task_group&) = delete;

  ~basic_task_group() {
    shared_state& s = *state_;
    std::deque<child_entry> orphans;
    std::deque<finished_child> unread;
    detail::task_registry* registry;
    {
      std::lock_guard lock(s.mutex);
      orphans = std::move(s.children);
      s.children.clear();
      unread = std::move(s.finished);
      s.finished.clear();
      s.orphaned = true;  // children still running report their own failures from now on
      registry = s.registry;
    }
    bool unjoined = !unread.empty();
    for (auto& child : orphans) {
      if (!child.handle.valid()) continue;
      unjoined = true;
      child.handle.cancel();
    }
    if (!unjoined) return;
    detail::report_unhandled(
        registry,
        std::make_exception_ptr(std::logic_error("coring::task_group destroyed with children not joined")));
    for (auto& f : unread) {
      if (unexpected_failure(f)) detail::report_unhandled(registry, f.error);
    }
    // Dropping the handles detaches the children; they keep the shared state alive until they end.
  }

  /// Starts `child` on `ex`. basic_task_group<T>: a task whose value converts to T; task_group:
  /// any task (its value is discarded).
  template <class U>
  requires(std::is_void_v<T> || std::is_convertible_v<U&&, T>) void spawn(
      executor ex, task<U> child, std::source_location site = std::source_location::current()) {
    shared_state& s = *state_;
    detail::waiter* wake = nullptr;
    {
      std::lock_guard lock(s.mutex);
      const std::uint64_t seq = s.next_seq++;
      join_handle<void> handle = coring::spawn(ex, run_child(state_, std::move(child), seq), site);
      s.registry = ex.scheduler()->registry();
      // If this throws, the child finds no entry and ends at once: nobody waits for it.
      s.children.push_back(child_entry{seq, std::move(handle)});
      ++s.running;
      if (s.canceled) wake = s.cancel_unstarted(s.children.back());
    }
    if (wake != nullptr) wake->wake();
  }

  /// Asks every child, present and future, to stop. Any thread; idempotent.
  void cancel() noexcept { state_->cancel(); }

  /// Children not taken yet by join() or join_next(): running, or finished with an outcome not
  /// taken. Any thread.
  std::size_t size() const noexcept {
    std::lock_guard lock(state_->mutex);
    return state_->running + state_->finished.size();
  }

  /// Waits until every child (also those spawned while waiting) finished; rethrows the first
  /// exception among the outcomes join_next() did not take, the others go to the handler (see the
  /// top of this file). The group can be used again afterwards.
  task<void> join() {
    shared_state& s = *state_;
    detail::task_root* parent = co_await detail::this_root_awaiter{};
    // A stop request for the joining task reaches the children spawned so far; later ones are
    // linked when the loop below comes to them.
    std::size_t joined = 0;
    std::deque<finished_child> outcomes;
    detail::task_registry* registry = nullptr;
    for (;;) {
      detail::child_group link;
      std::size_t end;
      {
        std::lock_guard lock(s.mutex);
        end = s.children.size();
        if (joined == end) {  // checked and emptied at once: a child spawned now is joined next time
          outcomes = std::move(s.finished);
          s.finished.clear();
          s.children.clear();
          s.running = 0;  // every child ended (one stopped before it started posts nothing)
          s.canceled = s.failed = false;
          registry = s.registry;
          break;
        }
        for (std::size_t i = joined; i < end; ++i) {
          if (s.children[i].handle.valid()) link.add(s.children[i].handle.cell());
        }
      }
      link.link(parent);
      for (; joined < end; ++joined) {
        if (!s.children[joined].handle.valid()) continue;  // join_next() took it
        try {
          co_await s.children[joined].handle.wait_to_end();  // deque: spawn() does not move existing elements
        } catch (...) {
          // Canceled before it started: not a failure of the child itself.
        }
      }
      link.unlink();
    }
    std::exception_ptr error;
    for (finished_child& f : outcomes) {
      if (!f.error) continue;
      if (!error) {
        error = f.error;
      } else if (unexpected_failure(f)) {
        detail::report_unhandled(registry, f.error);
      }
    }
    if (error) std::rethrow_exception(error);
    if (parent != nullptr && static_cast<detail::task_cell*>(parent)->scope.stop_requested()) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    }
  }

  /// The next child's outcome, in the order the children finished: its value, or its exception
  /// rethrown; std::nullopt when no child is left (the group is then empty and can be reused).
  task<std::optional<value_type>> join_next() {
    shared_state& s = *state_;
    detail::task_root* parent = co_await detail::this_root_awaiter{};
    stop_link link{s};  // declared before any lock: its destructor may wait for a stop in progress
    std::optional<finished_child> next;
    for (;;) {
      join_handle<void> taken;  // dropped after the lock is released
      bool empty = false;
      {
        std::lock_guard lock(s.mutex);
        if (!s.finished.empty()) {
          next.emplace(std::move(s.finished.front()));
          s.finished.pop_front();
          taken = s.forget(next->seq);
        } else if (s.running == 0) {
          s.canceled = s.failed = false;
          empty = true;
        }
      }
      if (next || empty) break;
      link.link(parent);
      co_await wait_for_child{s};
    }
    if (!next) co_return std::nullopt;
    if (next->never_started) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "coring::task_group: the child was canceled before it started");
    }
    if (next->error) std::rethrow_exception(next->error);
    co_return std::move(next->value);
  }

 private:
  struct child_entry {
    std::uint64_t seq;
    join_handle<void> handle;  // empty once join_next() took the child's outcome
    bool started = false;      // its body got past the start (a cancel no longer settles it)
    bool settled = false;      // its outcome is posted
  };
  struct finished_child {
    std::uint64_t seq = 0;
    std::optional<value_type> value;
    std::exception_ptr error;
    bool never_started = false;  // canceled before it started
    bool stopped = false;        // it had been asked to stop when it ended
  };

  struct shared_state {
    explicit shared_state(std::size_t max_concurrent) : slots(max_concurrent) {}

    child_entry* find(std::uint64_t seq) noexcept {  // under mutex
      auto it = std::lower_bound(children.begin(), children.end(), seq,
                                 [](const child_entry& c, std::uint64_t s) { return c.seq < s; });
      return it != children.end() && it->seq == seq ? &*it : nullptr;
    }

    /// A child that will never run its body: its outcome is posted now (under mutex).
    detail::waiter* cancel_unstarted(child_entry& child) {
      child.handle.cancel();
      if (child.started || child.settled) return nullptr;
      child.settled = true;
      finished_child f;
      f.seq = child.seq;
      f.never_started = true;
      return post(std::move(f));
    }

    detail::waiter* cancel_all() noexcept {  // under mutex
      canceled = true;
      detail::waiter* wake = nullptr;
      for (child_entry& child : children) {
        if (!child.handle.valid()) continue;
        try {
          if (detail::waiter* w = cancel_unstarted(child)) wake = w;
        } catch (...) {
          // Out of memory for the outcome: the child still ends (it finds itself settled or not
          // and posts its own), only this cancel's early outcome is lost.
          child.settled = false;
        }
      }
      return wake;
    }

    void cancel() noexcept {
      detail::waiter* wake;
      {
        std::lock_guard lock(mutex);
        wake = cancel_all();
      }
      if (wake != nullptr) wake->wake();
    }

    /// Queues an outcome (under mutex); returns the task in join_next() to wake, if any.
    detail::waiter* post(finished_child f) {
      finished.push_back(std::move(f));
      --running;
      return std::exchange(next_waiter, nullptr);
    }

    /// A child's body ended with `f`.
    void finish(finished_child f) noexcept {
      detail::waiter* wake = nullptr;
      std::exception_ptr report;
      detail::task_registry* to = nullptr;
      {
        std::lock_guard lock(mutex);
        if (child_entry* child = find(f.seq)) child->settled = true;
        const bool failure = f.error != nullptr;
        if (orphaned) {
          --running;
          if (unexpected_failure(f)) report = f.error;
          to = registry;
        } else {
          try {
            wake = post(std::move(f));
          } catch (...) {
            report = std::current_exception();  // out of memory: say so rather than lose it
            to = registry;
          }
        }
        if (failure && !failed) {
          failed = true;
          if (detail::waiter* w = cancel_all()) wake = w;
        }
      }
      if (report) detail::report_unhandled(to, std::move(report));
      if (wake != nullptr) wake->wake();
    }

    /// Drops the entry of a child whose outcome join_next() took (under mutex). Returns its
    /// handle, to be dropped outside the lock.
    join_handle<void> forget(std::uint64_t seq) noexcept {
      join_handle<void> handle;
      if (child_entry* child = find(seq)) {
        handle = std::move(child->handle);
        ++holes;
      }
      while (!children.empty() && !children.front().handle.valid()) {
        children.pop_front();
        --holes;
      }
      // A long-lived child ahead of many short ones would keep their entries: compact.
      if (holes > 32 && holes * 2 > children.size()) {
        std::erase_if(children, [](const child_entry& c) { return !c.handle.valid(); });
        holes = 0;
      }
      return handle;
    }

    mutable std::mutex mutex;
    std::deque<child_entry> children;     // in spawn order (seq increasing), not yet taken
    std::size_t holes = 0;                // entries in `children` with an empty handle
    std::deque<finished_child> finished;  // outcomes not yet taken, in the order they were posted
    std::size_t running = 0;              // children whose outcome is not posted yet
    std::uint64_t next_seq = 0;
    bool canceled = false;
    bool failed = false;                        // a child threw: the others were asked to stop
    bool orphaned = false;                      // the group was destroyed
    detail::task_registry* registry = nullptr;  // the handler for what nobody takes
    detail::waiter* next_waiter = nullptr;      // the task in join_next() waiting for an outcome
    async_semaphore slots;
  };

  /// A failure nobody expects: anything but the operation_canceled of a child asked to stop.
  static bool unexpected_failure(const finished_child& f) noexcept {
    return f.error && !(f.stopped && detail::is_cancellation(f.error));
  }

  /// join_next()'s wait for the next outcome.
  struct wait_for_child {
    shared_state& s;
    detail::waiter w{};
    bool parked = false;
    bool resumed = false;

    explicit wait_for_child(shared_state& state) noexcept : s(state) {}
    wait_for_child(const wait_for_child&) = delete;
    wait_for_child& operator=(const wait_for_child&) = delete;
    ~wait_for_child() {
      if (parked && !resumed) {  // destroyed while parked (shutdown): unpublish the waiter
        std::lock_guard lock(s.mutex);
        if (s.next_waiter == &w) s.next_waiter = nullptr;
      }
    }
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      std::lock_guard lock(s.mutex);
      if (!s.finished.empty() || s.running == 0) return false;
      w.prepare(awaiting);
      s.next_waiter = &w;
      parked = true;
      return true;
    }
    void await_resume() noexcept { resumed = true; }
  };

  /// Carries a stop request for the task in join_next() to every child (as cancel()).
  class stop_link : public detail::parent_link {
   public:
    explicit stop_link(shared_state& s) noexcept : parent_link(&stop), s_(s) {}

   private:
    static void stop(parent_link* link) noexcept { static_cast<stop_link*>(link)->s_.cancel(); }
    shared_state& s_;
  };

  static std::size_t check(std::size_t max_concurrent) {
    if (max_concurrent == 0) throw std::invalid_argument("coring::task_group: max_concurrent must be > 0");
    return max_concurrent;
  }

  template <class U>
  static task<void> run_child(std::shared_ptr<shared_state> state, task<U> child, std::uint64_t seq) {
    shared_state& s = *state;
    detail::task_root* root = co_await detail::this_root_awaiter{};
    try {
      co_await s.slots.acquire();
    } catch (...) {
      // The wait for a slot was canceled: the child never starts (its outcome says so below).
      finished_child f;
      f.seq = seq;
      f.never_started = true;
      {
        std::lock_guard lock(s.mutex);
        child_entry* entry = s.find(seq);
        if (entry == nullptr || entry->settled) co_return;
        entry->started = true;
      }
      s.finish(std::move(f));
      co_return;
    }
    {
      std::lock_guard lock(s.mutex);
      child_entry* entry = s.find(seq);
      if (entry == nullptr || entry->settled) {  // canceled before it started: already settled
        s.slots.release();
        co_return;
      }
      entry->started = true;
    }
    finished_child f;
    f.seq = seq;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await child;
        f.value.emplace();
      } else {
        f.value.emplace(co_await child);
      }
    } catch (...) {
      f.error = std::current_exception();
    }
    child = task<U>{};  // the child's frame (and what it owns) goes before its outcome is seen
    f.stopped = static_cast<detail::task_cell*>(root)->scope.stop_requested();
    s.slots.release();
    s.finish(std::move(f));
  }

  std::shared_ptr<shared_state> state_;
};

/// The group of tasks whose values are discarded (join_next() gives std::monostate).
using task_group = basic_task_group<void>;

}  // namespace coring
