// SPDX-License-Identifier: MIT
// Multi-producer, single-consumer intrusive queue: how other threads hand work to an event loop.
// Producers push with one CAS (release); the loop takes everything at once with one exchange
// (acquire, pairing with the pushes) and restores FIFO order by reversing the list.
#pragma once

#include <atomic>

#include "coring/detail/scheduler.hpp"

namespace coring::detail {

class remote_queue {
 public:
  void push(work_item* item) noexcept {
    work_item* head = head_.load(std::memory_order_relaxed);
    do {
      item->next = head;
    } while (!head_.compare_exchange_weak(head, item, std::memory_order_seq_cst, std::memory_order_relaxed));
  }

  /// Takes every queued item, oldest first, as a list linked through next.
  work_item* take_all() noexcept {
    if (head_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    work_item* list = head_.exchange(nullptr, std::memory_order_acquire);
    work_item* reversed = nullptr;
    while (list != nullptr) {
      work_item* next = list->next;
      list->next = reversed;
      reversed = list;
      list = next;
    }
    return reversed;
  }

  bool empty() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

 private:
  std::atomic<work_item*> head_{nullptr};
};

/// The loop's own FIFO of ready work; loop thread only.
class local_queue {
 public:
  void push(work_item* item) noexcept {
    item->next = nullptr;
    if (tail_ == nullptr) {
      head_ = item;
    } else {
      tail_->next = item;
    }
    tail_ = item;
    ++size_;
  }
  void push_list(work_item* first) noexcept {
    while (first != nullptr) {
      work_item* next = first->next;
      push(first);
      first = next;
    }
  }
  work_item* pop() noexcept {
    work_item* item = head_;
    if (item != nullptr) {
      head_ = item->next;
      if (head_ == nullptr) tail_ = nullptr;
      --size_;
    }
    return item;
  }
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept {
    head_ = tail_ = nullptr;
    size_ = 0;
  }

 private:
  work_item* head_ = nullptr;
  work_item* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace coring::detail
