// SPDX-License-Identifier: MIT
// coring::task_group: a set of child tasks that ends together (structured concurrency, like
// Tokio's JoinSet or P2300's async_scope).
//
//   coring::task_group group{{.max_concurrent = 8}};
//   for (auto& url : urls) group.spawn(rt.io(), fetch(url));
//   co_await group.join();   // every child finished; rethrows the first failure
//
// spawn() starts a child at once on the given pool (it waits for a slot first when
// max_concurrent children are already running). The first child that throws asks all the others
// to stop; join() waits for every child and rethrows that first exception. cancel() asks every
// child (and any spawned later) to stop: their sleeps and ring operations complete with
// operation_canceled. A stop request for the task awaiting join() reaches every child: join() is a
// cancellation point that still waits for every child to end (nothing outlives it), then throws
// std::system_error(errc::operation_canceled) (or rethrows the first failure, if a child threw).
// Children's values are discarded (await a join_handle from coring::spawn to get one).
//
// Thread safety: spawn() and cancel() may be called from any thread, join() by one task.
// Lifetime: join() must have returned before the group is destroyed. Destroying a group with
// children still unjoined is an error: the children are asked to stop and detached, and a
// std::logic_error goes to the runtime's unhandled-exception handler (never a silent leak).
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "coring/async_semaphore.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

struct task_group_options {
  /// How many children may run at once (the others wait, queued in the group, before they start).
  std::size_t max_concurrent = async_semaphore::max_permits;
};

namespace detail {
/// Reports `error` to the handler of the runtime `cell` belongs to.
void report_to_runtime(task_cell& cell, std::exception_ptr error) noexcept;
}  // namespace detail

class task_group {
 public:
  explicit task_group(task_group_options options = {})
      : state_(std::make_shared<shared_state>(check(options.max_concurrent))) {}
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  ~task_group() {
    std::deque<join_handle<void>> orphans;
    {
      std::lock_guard lock(state_->mutex);
      orphans = std::move(state_->children);
      state_->children.clear();
    }
    if (orphans.empty()) return;
    for (auto& child : orphans) child.cancel();
    detail::report_to_runtime(
        *orphans.front().cell(),
        std::make_exception_ptr(std::logic_error("coring::task_group destroyed with children not joined")));
    // Dropping the handles detaches the children; they keep the shared state alive until they end.
  }

  template <class T>
  void spawn(executor ex, task<T> child) {
    std::lock_guard lock(state_->mutex);
    join_handle<void> handle = coring::spawn(ex, run_child(state_, std::move(child)));
    if (state_->canceled) handle.cancel();
    state_->children.push_back(std::move(handle));
  }

  /// Asks every child, present and future, to stop. Any thread; idempotent.
  void cancel() noexcept {
    std::lock_guard lock(state_->mutex);
    state_->cancel_all();
  }

  /// Waits until every child (also those spawned while waiting) finished; rethrows the first
  /// exception a child threw. The group can be used again afterwards.
  task<void> join() {
    shared_state& s = *state_;
    detail::task_root* parent = co_await detail::this_root_awaiter{};
    // A stop request for the joining task reaches the children spawned so far; later ones are
    // linked when the loop below comes to them.
    std::size_t joined = 0;
    for (;;) {
      detail::child_group link;
      std::size_t end;
      {
        std::lock_guard lock(s.mutex);
        end = s.children.size();
        for (std::size_t i = joined; i < end; ++i) link.add(s.children[i].cell());
      }
      if (joined == end) break;
      link.link(parent);
      for (; joined < end; ++joined) {
        try {
          co_await s.children[joined].wait_to_end();  // deque: spawn() does not move existing elements
        } catch (...) {
          // Canceled before it started: not a failure of the child itself.
        }
      }
      link.unlink();
    }
    std::exception_ptr error;
    {
      std::lock_guard lock(s.mutex);
      s.children.clear();
      error = std::exchange(s.first_error, nullptr);
      s.canceled = false;
    }
    if (error) std::rethrow_exception(error);
    if (parent != nullptr && static_cast<detail::task_cell*>(parent)->scope.stop_requested()) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    }
  }

 private:
  struct shared_state {
    explicit shared_state(std::size_t max_concurrent) : slots(max_concurrent) {}

    void cancel_all() noexcept {  // under mutex
      canceled = true;
      for (auto& child : children) child.cancel();
    }

    std::mutex mutex;
    std::deque<join_handle<void>> children;  // not yet joined
    std::exception_ptr first_error;
    bool canceled = false;
    async_semaphore slots;
  };

  static std::size_t check(std::size_t max_concurrent) {
    if (max_concurrent == 0) throw std::invalid_argument("coring::task_group: max_concurrent must be > 0");
    return max_concurrent;
  }

  template <class T>
  static task<void> run_child(std::shared_ptr<shared_state> state, task<T> child) {
    co_await state->slots.acquire();
    struct release_slot {
      async_semaphore& slots;
      ~release_slot() { slots.release(); }
    } slot{state->slots};
    {
      std::lock_guard lock(state->mutex);
      if (state->canceled) co_return;  // canceled while it waited for a slot: never started
    }
    try {
      co_await child;
    } catch (...) {
      std::lock_guard lock(state->mutex);
      if (!state->first_error) state->first_error = std::current_exception();
      state->cancel_all();
    }
  }

  std::shared_ptr<shared_state> state_;
};

}  // namespace coring
