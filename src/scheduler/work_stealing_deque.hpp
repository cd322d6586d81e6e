// A fixed-capacity Chase-Lev deque of work items (Lê, Pop, Cohen, Zappa Nardelli, PPoPP 2013).
//
// The owner pushes and pops at the bottom (LIFO: the newest task runs next, while its data is hot);
// thieves take from the top (FIFO: the oldest, usually the biggest piece of work). push() fails when
// the deque is full; the caller then moves half of it to the pool's injection queue.
//
// Memory ordering: the fences of the paper are written as seq_cst operations on `bottom_`/`top_`,
// which ThreadSanitizer understands. push publishes the item with a release store of bottom_, paired
// with the acquire load of bottom_ in steal(); pop's seq_cst store of bottom_ and load of top_ order
// it against a concurrent steal of the last item, decided by the CAS on top_.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "coring/detail/scheduler.hpp"

namespace coring::detail {

class work_stealing_deque {
 public:
  static constexpr std::int64_t capacity = 1024;

  work_stealing_deque() : slots_(std::make_unique<std::atomic<work_item*>[]>(capacity)) {}

  /// Owner only. False when full.
  bool push(work_item* item) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // top only grows: a stale copy can only make the deque look fuller, so the thieves' line is
    // read only when the copy says full.
    if (b - top_seen_ >= capacity) {
      top_seen_ = top_.load(std::memory_order_acquire);
      if (b - top_seen_ >= capacity) return false;
    }
    slots_[static_cast<std::size_t>(b & mask)].store(item, std::memory_order_relaxed);
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  /// Owner only.
  work_item* pop() noexcept {
    // Empty now is empty for good (top only grows, and only the owner pushes): skip the fence.
    if (bottom_.load(std::memory_order_relaxed) <= top_.load(std::memory_order_relaxed)) return nullptr;
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    work_item* item = slots_[static_cast<std::size_t>(b & mask)].load(std::memory_order_relaxed);
    if (t == b) {
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        item = nullptr;
      }
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return item;
  }

  /// Owner only: takes the oldest `n` items (for moving them to the injection queue), linked
  /// through work_item::next. Returns the first; `last` receives the last. n must not exceed size().
  work_item* take_oldest(std::int64_t n, work_item*& last) noexcept {
    work_item* first = nullptr;
    last = nullptr;
    for (std::int64_t i = 0; i < n; ++i) {
      work_item* item = steal();
      if (item == nullptr) break;
      item->next = nullptr;
      if (last == nullptr) {
        first = item;
      } else {
        last->next = item;
      }
      last = item;
    }
    return first;
  }

  /// Any thread.
  work_item* steal() noexcept {
    for (;;) {
      std::int64_t t = top_.load(std::memory_order_seq_cst);
      const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
      if (t >= b) return nullptr;
      work_item* item = slots_[static_cast<std::size_t>(t & mask)].load(std::memory_order_relaxed);
      if (top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        return item;
      }
    }
  }

  /// Approximate; any thread.
  std::int64_t size() const noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    return b > t ? b - t : 0;
  }

 private:
  static constexpr std::int64_t mask = capacity - 1;

  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  std::int64_t top_seen_ = 0;  // owner only: a copy of top_, at most as large
  std::unique_ptr<std::atomic<work_item*>[]> slots_;
};

}  // namespace coring::detail
