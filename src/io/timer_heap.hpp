// SPDX-License-Identifier: MIT
// A binary min-heap of timer ops ordered by deadline, with each op's position kept in the op so a
// canceled timer is removed in O(log n). One per event loop, loop thread only: 100,000 sleepers
// cost one heap, and the kernel sees one timeout (the earliest deadline) per wait.
#pragma once

#include <cstdint>
#include <vector>

#include "coring/detail/io_op.hpp"

namespace coring::detail {

class timer_heap {
 public:
  void push(io_op* op) {
    op->heap_index = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(op);
    sift_up(heap_.size() - 1);
  }

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  io_op* top() const noexcept { return heap_.front(); }
  std::uint64_t next_deadline() const noexcept { return heap_.front()->args.timer.when; }

  bool contains(const io_op* op) const noexcept {
    return op->heap_index < heap_.size() && heap_[op->heap_index] == op;
  }

  void remove(io_op* op) noexcept {
    const std::size_t i = op->heap_index;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
      place(i, heap_[last]);
      heap_.pop_back();
      sift_down(i);
      sift_up(i);
    } else {
      heap_.pop_back();
    }
    op->heap_index = static_cast<std::uint32_t>(-1);
  }

  void clear() noexcept { heap_.clear(); }

 private:
  void place(std::size_t i, io_op* op) noexcept {
    heap_[i] = op;
    op->heap_index = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i) noexcept {
    io_op* op = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (heap_[parent]->args.timer.when <= op->args.timer.when) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, op);
  }
  void sift_down(std::size_t i) noexcept {
    io_op* op = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1]->args.timer.when < heap_[child]->args.timer.when) ++child;
      if (op->args.timer.when <= heap_[child]->args.timer.when) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, op);
  }

  std::vector<io_op*> heap_;
};

}  // namespace coring::detail
