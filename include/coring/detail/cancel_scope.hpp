// SPDX-License-Identifier: MIT
// The stop state shared by a spawned task and every task it awaits.
//
// request_stop() may be called from any thread, once or many times. The operation a task is
// suspended on registers a cancel_hook; request_stop() calls every registered hook once, outside
// the lock. remove() unlinks a hook, and if that hook's callback is running on another thread at
// that moment, waits for it to return, so the hook's owner may be destroyed as soon as remove()
// returns (the same guarantee as std::stop_callback's destructor, in 32 bytes instead of 64).
// A hook's callback must not call remove() on itself.
//
// Memory ordering: `requested_` is set before the hooks are called (seq_cst), and add() reads it
// under the lock, so a hook is either called or refused: never missed.
#pragma once

#include <atomic>
#include <stop_token>

namespace coring::detail {

struct cancel_hook {
  cancel_hook* prev = nullptr;
  cancel_hook* next = nullptr;
  void (*on_stop)(cancel_hook*) noexcept = nullptr;
  bool linked = false;
};

class cancel_scope {
 public:
  cancel_scope() noexcept = default;
  cancel_scope(const cancel_scope&) = delete;
  cancel_scope& operator=(const cancel_scope&) = delete;
  ~cancel_scope() { delete bridge_.load(std::memory_order_acquire); }

  bool stop_requested() const noexcept { return requested_.load(std::memory_order_acquire); }

  /// A std::stop_token that is stopped when this scope is. The std::stop_source behind it is
  /// created on the first call (any thread) and lives as long as the scope.
  std::stop_token token() {
    stop_bridge* bridge = bridge_.load(std::memory_order_acquire);
    if (bridge == nullptr) {
      auto* made = new stop_bridge;
      if (bridge_.compare_exchange_strong(bridge, made, std::memory_order_acq_rel)) {
        bridge = made;
        if (!add(*bridge)) bridge->source.request_stop();  // stop came first
      } else {
        delete made;  // another thread won; `bridge` holds its bridge
      }
    }
    return bridge->source.get_token();
  }

  /// Registers `hook`; false (and not registered) when stop was already requested.
  bool add(cancel_hook& hook) noexcept {
    lock();
    if (requested_.load(std::memory_order_seq_cst)) {
      unlock();
      return false;
    }
    hook.prev = nullptr;
    hook.next = head_;
    if (head_ != nullptr) head_->prev = &hook;
    head_ = &hook;
    hook.linked = true;
    unlock();
    return true;
  }

  void remove(cancel_hook& hook) noexcept {
    lock();
    if (hook.linked) {
      unlink(hook);
      unlock();
      return;
    }
    while (running_ == &hook) {  // request_stop() is calling it right now
      unlock();
      relax();
      lock();
    }
    unlock();
  }

  void request_stop() noexcept {
    if (requested_.exchange(true, std::memory_order_seq_cst)) return;
    lock();
    while (head_ != nullptr) {
      cancel_hook* hook = head_;
      unlink(*hook);
      running_ = hook;
      unlock();
      hook->on_stop(hook);
      lock();
      running_ = nullptr;
    }
    unlock();
  }

 private:
  void unlink(cancel_hook& hook) noexcept {
    if (hook.prev != nullptr) {
      hook.prev->next = hook.next;
    } else {
      head_ = hook.next;
    }
    if (hook.next != nullptr) hook.next->prev = hook.prev;
    hook.prev = hook.next = nullptr;
    hook.linked = false;
  }
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) relax();
    }
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
  }

  struct stop_bridge : cancel_hook {
    std::stop_source source;
    stop_bridge() noexcept {
      on_stop = [](cancel_hook* hook) noexcept { static_cast<stop_bridge*>(hook)->source.request_stop(); };
    }
  };

  std::atomic<bool> requested_{false};
  std::atomic<bool> locked_{false};
  std::atomic<stop_bridge*> bridge_{nullptr};
  cancel_hook* head_ = nullptr;     // guarded by locked_
  cancel_hook* running_ = nullptr;  // guarded by locked_
};

}  // namespace coring::detail
