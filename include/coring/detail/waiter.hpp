// SPDX-License-Identifier: MIT
// waiter: a task suspended on a synchronization primitive (mutex, semaphore, event, channel...).
//
// A primitive keeps its waiters in an intrusive list (`prev`/`next_waiter`, guarded by the
// primitive's own lock) and wakes one with wake(), which queues the task on the pool it waited
// from (the affinity rule). wake() never resumes inline: the waker may hold the primitive's lock
// or run on another pool. Before a waiter is published to other threads, prepare() must be called
// from await_suspend: it records the task, its home, and enters the task's tree in the runtime's
// registry (so shutdown can destroy a task parked on a primitive).
//
// Cancellation (the one mechanism every primitive uses). Only a wait that is about to suspend pays
// for it, on the primitive's slow path:
//   1. Under the primitive's lock, right before queuing the waiter, the primitive calls arm() with
//      its cancel function. arm() registers a hook on the stop scope of the awaiting task's tree;
//      it returns false when stop was already requested: the primitive then does not queue the
//      waiter and does not suspend (the wait ends at once as canceled).
//   2. A stop request calls the primitive's cancel function on the requesting thread. Under the
//      primitive's lock it takes the waiter out of the list if it is still there and then calls
//      canceled_by_stop() (after unlocking). If the primitive dequeued the waiter first (it got
//      its item, permit or lock), the cancel function does nothing and the wait succeeds: that is
//      what makes every wait cancel-safe (nothing is taken and then dropped).
//   3. await_resume (and the awaiter's destructor, for a frame destroyed while parked) calls
//      disarm() before it reads anything: it unregisters the hook and waits for a cancel function
//      that is running right now, so the primitive is not touched by it afterwards. disarm() must
//      not be called under the primitive's lock (the cancel function takes that lock).
// Lock order: the primitive's lock, then the stop scope's (arm); the cancel function runs with
// neither held by the requesting thread's request_stop().
#pragma once

#include <atomic>
#include <coroutine>
#include <system_error>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/detail/spin_lock.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/task.hpp"

namespace coring::detail {

struct waiter : resume_item {
  scheduler* home = nullptr;
  waiter* prev = nullptr;
  waiter* next_waiter = nullptr;

  waiter() noexcept = default;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  template <class Promise>
  void prepare(std::coroutine_handle<Promise> awaiting) noexcept {
    task_root* root = root_of(awaiting);
    before_suspend(root);
    handle = awaiting;
    home = current_scheduler();
    scope_ = root != nullptr ? &static_cast<task_cell*>(root)->scope : nullptr;
  }

  /// Step 1 above: under the primitive's lock, after prepare(), before the waiter is queued.
  /// `cancel` is the primitive's cancel function. False: stop was already requested; do not
  /// queue, do not suspend (canceled() is true from now on).
  bool arm(void (*cancel)(waiter&) noexcept) noexcept {
    if (scope_ == nullptr) return true;  // not a spawned task's tree: nobody can ask it to stop
    hook_.cancel = cancel;
    if (scope_->add(hook_)) {
      armed_ = true;
      return true;
    }
    canceled_ = true;
    return false;
  }

  /// Step 3 above. Returns true when the wait ended by a stop request.
  bool disarm() noexcept {
    if (armed_) {
      armed_ = false;
      scope_->remove(hook_);
    }
    return canceled_;
  }

  /// Step 2, called by the primitive's cancel function once it took the waiter out of its list
  /// (outside the primitive's lock): records the cancellation and wakes the task.
  void canceled_by_stop() noexcept {
    canceled_ = true;
    wake();
  }

  /// The coop budget (scheduler.hpp): a wait that ended without suspending (after prepare())
  /// calls this. When this run of the task has spent its budget, the task is queued behind the
  /// work already waiting on its pool and true is returned: await_suspend then returns true.
  bool requeue_if_out_of_budget() noexcept { return !coop_spend() && requeue(); }
  /// The same for a wait that did not call prepare() (it ended before it had to).
  template <class Promise>
  bool yield_if_out_of_budget(std::coroutine_handle<Promise> awaiting) noexcept {
    if (coop_spend()) return false;
    prepare(awaiting);
    return requeue();
  }
  bool requeue() noexcept {
    if (home == nullptr) return false;
    home->schedule_later(this);
    return true;
  }

  /// Resumes the waiting task on its home pool (inline only when it has no home: a task driven by
  /// hand outside any runtime).
  void wake() noexcept {
    if (home != nullptr) {
      home->schedule(this);
    } else {
      handle.resume();
    }
  }

  /// What a void (or guard) returning wait throws when it was canceled.
  [[noreturn]] static void throw_canceled() {
    throw std::system_error(std::make_error_code(std::errc::operation_canceled));
  }

 private:
  struct stop_hook : cancel_hook {
    waiter* owner = nullptr;
    void (*cancel)(waiter&) noexcept = nullptr;
    explicit stop_hook(waiter* w) noexcept : owner(w) {
      on_stop = [](cancel_hook* h) noexcept {
        auto* self = static_cast<stop_hook*>(h);
        self->cancel(*self->owner);
      };
    }
  };

  cancel_scope* scope_ = nullptr;  // the awaiting tree's stop scope; set by prepare()
  stop_hook hook_{this};
  bool armed_ = false;     // hook_ is registered (or running); only the waiting task touches it
  bool canceled_ = false;  // written before the wake-up that resumes the task (or by arm())
};

/// Counts calls still running on a primitive after they published a state on which another thread
/// may destroy it (a set event, a released permit, a closed channel, seen without the primitive's
/// lock): such a call still unlocks the primitive's lock afterwards. The primitive's destructor
/// waits for them (as event_loop_impl's destructor waits for its posters). Only the slow paths
/// that publish such a state pay for it (two atomic adds).
class late_touches {
 public:
  late_touches() noexcept = default;
  late_touches(const late_touches&) = delete;
  late_touches& operator=(const late_touches&) = delete;
  ~late_touches() { wait_idle(); }

  /// Returns once no such call runs (a destructor that reads the primitive first calls it first).
  void wait_idle() const noexcept {
    // acquire: pairs with the release in ~scope; the call's last touch happens before the free.
    while (count_.load(std::memory_order_acquire) != 0) cpu_relax();
  }

  /// Held by one such call, from before its publishing store to after its last touch.
  class scope {
   public:
    // relaxed: the publishing store that follows (release, or a lock's release) carries it to
    // the thread that sees the state and then destroys the primitive.
    explicit scope(late_touches& t) noexcept : t_(t) { t_.count_.fetch_add(1, std::memory_order_relaxed); }
    ~scope() { t_.count_.fetch_sub(1, std::memory_order_release); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    late_touches& t_;
  };

 private:
  std::atomic<unsigned> count_{0};
};

/// FIFO list of waiters; not thread-safe (the primitive's lock guards it).
class waiter_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }
  void push_back(waiter& w) noexcept {
    w.next_waiter = nullptr;
    w.prev = tail_;
    if (tail_ != nullptr) {
      tail_->next_waiter = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
  }
  waiter* pop_front() noexcept {
    waiter* w = head_;
    if (w != nullptr) remove(*w);
    return w;
  }
  void remove(waiter& w) noexcept {
    if (w.prev != nullptr) {
      w.prev->next_waiter = w.next_waiter;
    } else {
      head_ = w.next_waiter;
    }
    if (w.next_waiter != nullptr) {
      w.next_waiter->prev = w.prev;
    } else {
      tail_ = w.prev;
    }
    w.prev = w.next_waiter = nullptr;
  }
  /// Takes the whole list (to wake everyone outside the lock). Read each waiter's next_waiter
  /// before calling its wake(): once woken, its task may run and free the waiter at once.
  waiter* take_all() noexcept {
    waiter* all = head_;
    head_ = tail_ = nullptr;
    return all;
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

}  // namespace coring::detail
