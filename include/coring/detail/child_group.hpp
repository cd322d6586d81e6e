// child_group: what when_all and when_any share — their children, spawned as tasks of their own
// on the awaiting task's pool, and the link that carries a stop request from the awaiting task's
// tree down to them.
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

/// Children's cells, and a cancel_hook on the parent's scope that stops them all.
class child_group : cancel_hook {
 public:
  child_group() noexcept { on_stop = &stop_children; }
  child_group(const child_group&) = delete;
  child_group& operator=(const child_group&) = delete;
  ~child_group() { unlink(); }

  /// Links the group to the parent's stop scope (if the parent runs under one). Call after every
  /// child was added.
  void link(task_root* parent) noexcept {
    if (parent == nullptr) return;
    cancel_scope& scope = static_cast<task_cell*>(parent)->scope;
    if (scope.add(*this)) {
      scope_ = &scope;
    } else {
      stop_all();  // the parent was already asked to stop
    }
  }
  void unlink() noexcept {
    if (scope_ != nullptr) std::exchange(scope_, nullptr)->remove(*this);
  }

  void add(task_cell* cell) { cells_.push_back(cell); }
  /// Asks every child to stop. Any thread; the cells stay alive while the parent holds handles.
  void stop_all() noexcept {
    for (task_cell* cell : cells_) cell->scope.request_stop();
  }

 private:
  static void stop_children(cancel_hook* hook) noexcept { static_cast<child_group*>(hook)->stop_all(); }

  std::vector<task_cell*> cells_;
  cancel_scope* scope_ = nullptr;
};

}  // namespace coring::detail
