// SPDX-License-Identifier: MIT
// fork_group: when_all's children, forked onto the awaiting task's pool without a task_cell each.
//
// The group is the root of every child's tree (their promise.root), so it carries the children's
// stop scope, linked to the awaiting task's scope, and one counter: the child that brings it to
// zero resumes the awaiting task (by symmetric transfer when it runs on the same pool). The first
// child to fail stops its siblings; later failures go to the unhandled-exception handler of the
// awaiting task's pool (unhandled.hpp). Without `fail_fast` (when_all_ready) a failure is only
// left in the child's frame, for the awaiting task to collect with the other outcomes. All of it lives in the
// awaiting when_all frame, which owns the children's frames: it is never entered in the task registry,
// because shutdown reaches the children by destroying that frame (its own tree is registered before it
// suspends).
//
// Threads: children run and finish on any worker of the pool; `remaining` orders their results
// (written in their frames) before the awaiting task reads them.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <new>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/child_group.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/detail/unhandled.hpp"
#include "coring/task.hpp"

namespace coring::detail {

struct fork_group;

/// A failure of a when_all child after the first: the awaiting task gets the first only, so this
/// one goes to the handler, unless it is the operation_canceled with which a child stopped by the
/// first failure ends (the group is always stopped by then). Out of line: the fork's fast path
/// never comes here.
[[gnu::noinline, gnu::cold]] inline void report_later_failure(scheduler* home,
                                                              const std::exception_ptr& error) noexcept {
  if (!is_cancellation(error)) report_unhandled(home, error);
}

/// One child: the work item that starts it on the pool.
struct fork_slot : work_item {
  std::coroutine_handle<> frame;
  fork_group* group = nullptr;
  bool canceled = false;  // stopped before it started: it never ran
};

struct fork_group : task_cell, parent_link {
  std::atomic<std::size_t> remaining{0};
  std::atomic<bool> failed{false};
  bool fail_fast = true;           // when_all: the first failure stops the siblings; when_all_ready: not
  std::exception_ptr first_error;  // written by the first child to fail, read after `remaining` is 0
  // Inline runs: while the forking thread runs the children one after another, it points
  // inline_fork_root (task.hpp) at the group; a child that finishes then only sets
  // finished_inline and is not counted in `remaining`, which the forking thread settles once.

  fork_group() noexcept : parent_link(&stop_children) {
    fork = true;
    registered = true;  // see the top of this file: never entered in the registry
  }

  /// A child finished (or was canceled before it started); `error` points at its exception.
  /// Returns what to transfer to: the awaiting task after the last child, else noop.
  std::coroutine_handle<> child_done(const std::exception_ptr* error) noexcept {
    if (error != nullptr && *error && fail_fast) {
      if (!failed.exchange(true, std::memory_order_acq_rel)) {
        first_error = *error;
        scope.request_stop();
      } else {
        // Reported before `remaining` is counted down: the group (and joiner_home) is alive.
        report_later_failure(joiner_home, *error);
      }
    }
    if (inline_fork_root == this) {
      finished_inline = true;
      return std::noop_coroutine();
    }
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return std::noop_coroutine();
    return resume_on(joiner_home, joiner);
  }

 private:
  static void stop_children(parent_link* link) noexcept {
    static_cast<fork_group*>(link)->scope.request_stop();
  }
};

inline void start_fork_child(work_item* w) noexcept {
  auto& slot = static_cast<fork_slot&>(*w);
  if (slot.group->scope.stop_requested()) {
    slot.canceled = true;
    std::coroutine_handle<> next = slot.group->child_done(nullptr);
    if (next != std::noop_coroutine()) next.resume();
    return;
  }
  note_tree_start(*slot.group);
  slot.frame.resume();
}

/// How deep inline runs may nest on one thread (each level is a few stack frames).
inline constexpr unsigned max_inline_depth = 48;
inline thread_local unsigned inline_depth = 0;

/// Forks `count` children (their promises already point at `group`) and suspends the awaiting
/// task until the last one finished.
///
/// While the scheduler says so (may_run_forks_inline: other threads have this thread's queued
/// work to steal), children run right here, one after another, as plain nested calls: a child
/// that finishes costs no queue operation and no atomic. The first child that suspends (it waits
/// for I/O, a lock, another child...) ends that: it and every child not started yet go through
/// the scheduler's queue and run concurrently, as they would have from the start.
///
/// The group's stop scope is linked to the awaiting task's (`parent`) only when a child is about
/// to outlive this call: a stop request cannot reach children that run to their end right here
/// anyway, and the link costs two locked operations on the parent's scope. A parent already asked
/// to stop is linked (and so stops the children) at once.
struct fork_awaiter {
  wait_note note_wait() const noexcept { return {"when_all children"}; }
  fork_group& group;
  fork_slot* slots;
  std::size_t count;
  task_root* parent;

  bool await_ready() const noexcept { return count == 0; }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    before_suspend(root_of(awaiting));
    scheduler* here = current_scheduler();
    if (parent != nullptr) group.spawned_at = parent->spawned_at;  // stall reports name the children's tree
    group.joiner.handle = awaiting;
    group.joiner_home = here;
    group.remaining.store(count, std::memory_order_relaxed);
    if (parent != nullptr && static_cast<task_cell*>(parent)->scope.stop_requested()) group.link(parent);

    std::size_t next = 0;     // the first child not run inline
    std::size_t settled = 0;  // children finished inline (or canceled before they started)
    if (here != nullptr && inline_depth < max_inline_depth) {
      task_root* const outer = inline_fork_root;
      ++inline_depth;
      // Asked again every 16 children: thieves may have emptied the deque meanwhile.
      while (next < count && ((next & 15) != 0 || here->may_run_forks_inline())) {
        fork_slot& slot = slots[next++];
        if (group.scope.stop_requested()) {
          slot.canceled = true;
          ++settled;
          continue;
        }
        group.finished_inline = false;
        inline_fork_root = &group;  // a nested group's loop puts it back before returning
        slot.frame.resume();
        inline_fork_root = outer;
        if (!group.finished_inline) break;  // it waits: it counts itself when it finishes
        ++settled;
      }
      --inline_depth;
    }
    // The rest go through the queue. Until `remaining` reaches zero the awaiting frame (group,
    // slots) stays put, and it cannot reach zero before the subtraction of `settled` below.
    if (next < count || !group.finished_inline) group.link(parent);
    for (std::size_t i = next; i < count; ++i) {
      slots[i].run = &start_fork_child;
      if (here != nullptr) {
        here->schedule(&slots[i]);
      } else {
        start_fork_child(&slots[i]);  // no pool (a plain thread): one after the other
      }
    }
    if (settled == 0) return std::noop_coroutine();
    if (group.remaining.fetch_sub(settled, std::memory_order_acq_rel) == settled) return awaiting;
    return std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

/// The slots of `count` children: in `storage` when the caller has room for them (when_all over a
/// pack keeps them in its own frame), else from the frame allocator. Destroys the children's
/// frames, with the when_all frame that owns them.
class fork_slots {
 public:
  explicit fork_slots(std::size_t count)
      : slots_(static_cast<fork_slot*>(allocate_frame(count * sizeof(fork_slot)))),
        capacity_(count),
        owned_(true) {}
  fork_slots(void* storage, std::size_t count) noexcept
      : slots_(static_cast<fork_slot*>(storage)), capacity_(count), owned_(false) {}
  fork_slots(const fork_slots&) = delete;
  fork_slots& operator=(const fork_slots&) = delete;
  ~fork_slots() {
    for (std::size_t i = 0; i < size_; ++i) {
      if (slots_[i].frame) destroy_owned_frame(slots_[i].frame);
      slots_[i].~fork_slot();
    }
    if (owned_) deallocate_frame(slots_, capacity_ * sizeof(fork_slot));
  }

  /// Takes ownership of a child's frame.
  fork_slot& add(std::coroutine_handle<> frame, fork_group& group) noexcept {
    fork_slot* slot = new (&slots_[size_++]) fork_slot;
    slot->frame = frame;
    slot->group = &group;
    return *slot;
  }
  fork_slot* data() noexcept { return slots_; }
  std::size_t size() const noexcept { return size_; }
  fork_slot& operator[](std::size_t i) noexcept { return slots_[i]; }

 private:
  fork_slot* slots_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool owned_;
};

/// Room for N slots inside a frame.
template <std::size_t N>
struct fork_slot_storage {
  alignas(fork_slot) unsigned char bytes[N * sizeof(fork_slot)];
};

}  // namespace coring::detail
