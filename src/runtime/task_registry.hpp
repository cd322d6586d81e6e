// The set of spawned tasks that have not finished, so that shutdown can destroy them (and free
// their frames) instead of leaking them; plus the spawn/complete counters and the handler for
// exceptions that escape detached tasks.
//
// Sharded by the spawning thread to keep the lock uncontended: a cell remembers its shard, and
// completion (possibly on another thread) locks that shard only. Counters are written under the
// shard's lock and read relaxed by metrics().
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>

#include "coring/detail/task_cell.hpp"

namespace coring::detail {

class spin_lock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

class task_registry {
 public:
  using exception_handler = std::function<void(std::exception_ptr)>;

  task_registry();
  task_registry(const task_registry&) = delete;
  task_registry& operator=(const task_registry&) = delete;

  void add(task_cell& cell) noexcept;
  void remove(task_cell& cell) noexcept;
  /// Destroys every registered task (their frames and, unless a join_handle holds them, cells).
  /// Only when no thread runs tasks of this registry any more.
  void destroy_all() noexcept;

  void set_exception_handler(exception_handler handler);
  void report(std::exception_ptr error) noexcept;

  std::uint64_t spawned() const noexcept;
  std::uint64_t completed() const noexcept;

 private:
  static constexpr unsigned shard_count = 8;
  struct alignas(64) shard {
    spin_lock lock;
    task_cell* head = nullptr;
    std::atomic<std::uint64_t> spawned{0};
    std::atomic<std::uint64_t> completed{0};
  };

  shard shards_[shard_count];
  std::mutex handler_mutex_;
  std::shared_ptr<const exception_handler> handler_;  // guarded by handler_mutex_
};

/// Frees a cell and the frame it owns.
void destroy_cell(task_cell& cell) noexcept;

}  // namespace coring::detail
