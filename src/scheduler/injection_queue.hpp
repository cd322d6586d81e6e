// SPDX-License-Identifier: MIT
// The CPU pool's global FIFO for work that comes from outside the pool (other pools, plain threads,
// yield()) and for the overflow of full worker deques. A mutex-protected intrusive list: pushes and
// pops are rare next to the deques' traffic, and batches amortise the lock. `size_` lets idle
// workers look without taking the lock (seq_cst, paired with the parking protocol in cpu_pool).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>

#include "coring/detail/scheduler.hpp"

namespace coring::detail {

class injection_queue {
 public:
  void push(work_item* item) noexcept {
    item->next = nullptr;
    push_batch(item, item, 1);
  }

  /// Appends the list first..last (linked through next, last->next == nullptr).
  void push_batch(work_item* first, work_item* last, std::size_t count) noexcept {
    std::lock_guard lock(mutex_);
    if (tail_ == nullptr) {
      head_ = first;
    } else {
      tail_->next = first;
    }
    tail_ = last;
    size_.store(size_.load(std::memory_order_relaxed) + count, std::memory_order_seq_cst);
  }

  /// Pops up to `max` items as a list; returns nullptr when empty.
  work_item* pop_batch(std::size_t max, std::size_t& count) noexcept {
    count = 0;
    if (empty()) return nullptr;
    std::lock_guard lock(mutex_);
    work_item* first = head_;
    work_item* last = nullptr;
    work_item* it = head_;
    while (it != nullptr && count < max) {
      last = it;
      it = it->next;
      ++count;
    }
    if (last == nullptr) return nullptr;
    head_ = it;
    if (head_ == nullptr) tail_ = nullptr;
    last->next = nullptr;
    size_.store(size_.load(std::memory_order_relaxed) - count, std::memory_order_seq_cst);
    return first;
  }

  bool empty() const noexcept { return size_.load(std::memory_order_seq_cst) == 0; }
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  work_item* head_ = nullptr;
  work_item* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

}  // namespace coring::detail
