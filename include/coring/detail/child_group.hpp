// SPDX-License-Identifier: MIT
// child_group: when_any's children, spawned as tasks of their own on the awaiting task's pool, and
// parent_link, the hook that carries a stop request from the awaiting task's tree down to a group
// of children (when_any's and when_all's fork_group).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/task_cell.hpp"
#include "coring/executor.hpp"
#include "coring/task.hpp"

namespace coring::detail {

/// Gives the root of the awaiting task's tree without suspending.
struct this_root_awaiter {
  task_root* root = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    root = root_of(h);
    return false;
  }
  task_root* await_resume() const noexcept { return root; }
};

/// The pool a task is running on, as an executor; throws when there is none.
inline executor current_executor_or_throw() {
  scheduler* here = current_scheduler();
  if (here == nullptr) {
    throw std::system_error(std::make_error_code(std::errc::not_supported),
                            "coring: when_all/when_any need to run on a runtime or an event loop");
  }
  return executor{here};
}

template <class T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// A hook on the awaiting task's stop scope that passes a stop request on to its children (how
/// is the derived group's business: `stop` is called on the thread that requested the stop).
class parent_link : private cancel_hook {
 public:
  parent_link(const parent_link&) = delete;
  parent_link& operator=(const parent_link&) = delete;
  ~parent_link() { unlink(); }

  /// Links to the parent's stop scope (if the parent runs under one); a parent already asked to
  /// stop stops the children at once. Call once every child is known; once
  /// linked, later calls do nothing.
  void link(task_root* parent) noexcept {
    if (parent == nullptr || scope_ != nullptr) return;
    cancel_scope& scope = static_cast<task_cell*>(parent)->scope;
    if (scope.add(*this)) {
      scope_ = &scope;
    } else {
      stop_(this);
    }
  }
  void unlink() noexcept {
    if (scope_ != nullptr) std::exchange(scope_, nullptr)->remove(*this);
  }

 protected:
  using stop_function = void (*)(parent_link*) noexcept;
  explicit parent_link(stop_function stop) noexcept : stop_(stop) { on_stop = &forward; }

 private:
  static void forward(cancel_hook* hook) noexcept {
    auto* self = static_cast<parent_link*>(hook);
    self->stop_(self);
  }

  stop_function stop_;
  cancel_scope* scope_ = nullptr;
};

/// when_any's children: their cells, stopped together when the parent is.
class child_group : public parent_link {
 public:
  child_group() noexcept : parent_link(&stop_children) {}

  void add(task_cell* cell) { cells_.push_back(cell); }
  /// Asks every child to stop. Any thread; the cells stay alive while the parent holds handles.
  void stop_all() noexcept {
    for (task_cell* cell : cells_) cell->scope.request_stop();
  }

 private:
  static void stop_children(parent_link* link) noexcept { static_cast<child_group*>(link)->stop_all(); }

  std::vector<task_cell*> cells_;
};

}  // namespace coring::detail
