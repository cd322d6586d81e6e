// A growable Chase-Lev deque of work items (Chase and Lev, SPAA 2005; memory orders after Lê, Pop,
// Cohen, Zappa Nardelli, PPoPP 2013).
//
// The owner pushes and pops at the bottom (LIFO: the newest task runs next, while its data is hot);
// thieves take from the top (FIFO: the oldest, usually the biggest piece of work). A full buffer is
// replaced by one twice its size, so a worker that spawns faster than the others can steal keeps
// its work in one place: there is no overflow path that moves items through a shared, locked queue
// (which cost a lock per batch and a pointer chase per item, and made the spawner and the thief
// wait on each other). Replaced buffers stay allocated until the deque is destroyed, because a
// thief may still read a slot of one; the sizes double, so they never add up to more than the
// current buffer.
//
// Memory ordering: the fences of the paper are written as seq_cst operations on `bottom_`/`top_`,
// which ThreadSanitizer understands. push publishes the item (and a new buffer) with a release
// store of bottom_, paired with the seq_cst load of bottom_ in steal(), which loads the buffer
// after bottom_; pop's seq_cst store of bottom_ and load of top_ order it against a concurrent
// steal of the last item, decided by the CAS on top_.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "coring/detail/scheduler.hpp"

namespace coring::detail {

class work_stealing_deque {
 public:
  static constexpr std::int64_t initial_capacity = 1024;

  work_stealing_deque() : current_(make_buffer(initial_capacity)) {
    buffer_.store(current_, std::memory_order_relaxed);
  }
  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;

  /// Owner only. False only when a full buffer could not grow (out of memory).
  bool push(work_item* item) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // top only grows: a stale copy can only make the deque look fuller, so the thieves' line is
    // read only when the copy says full.
    if (b - top_seen_ >= current_->capacity) {
      top_seen_ = top_.load(std::memory_order_acquire);
      if (b - top_seen_ >= current_->capacity && !grow(top_seen_, b)) return false;
    }
    current_->at(b).store(item, std::memory_order_relaxed);
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
    work_item* item = current_->at(b).load(std::memory_order_relaxed);
    if (t == b) {
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        item = nullptr;
      }
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return item;
  }

  /// Any thread.
  work_item* steal() noexcept {
    for (;;) {
      std::int64_t t = top_.load(std::memory_order_seq_cst);
      const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
      if (t >= b) return nullptr;
      buffer* buf = buffer_.load(std::memory_order_acquire);
      work_item* item = buf->at(t).load(std::memory_order_relaxed);
      if (top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        // A thief that runs behind the owner comes back for the next item: start fetching it (it was
        // written on the owner's core) while this one runs. Only a prefetch: by the time it lands
        // the item may belong to someone else.
        if (t + 1 < b) __builtin_prefetch(buf->at(t + 1).load(std::memory_order_relaxed));
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

  /// Owner only (or with no concurrent push): how many slots the current buffer has.
  std::int64_t capacity() const noexcept { return current_->capacity; }

 private:
  struct buffer {
    std::int64_t capacity;
    std::unique_ptr<std::atomic<work_item*>[]> slots;
    std::atomic<work_item*>& at(std::int64_t i) noexcept {
      return slots[static_cast<std::size_t>(i & (capacity - 1))];
    }
  };

  buffer* make_buffer(std::int64_t capacity) {
    auto b = std::make_unique<buffer>(
        buffer{capacity, std::make_unique<std::atomic<work_item*>[]>(static_cast<std::size_t>(capacity))});
    buffers_.push_back(std::move(b));
    return buffers_.back().get();
  }

  bool grow(std::int64_t t, std::int64_t b) noexcept {
    buffer* bigger;
    try {
      buffers_.reserve(buffers_.size() + 1);
      bigger = make_buffer(2 * current_->capacity);
    } catch (const std::bad_alloc&) {
      return false;
    }
    for (std::int64_t i = t; i < b; ++i)
      bigger->at(i).store(current_->at(i).load(std::memory_order_relaxed), std::memory_order_relaxed);
    current_ = bigger;
    buffer_.store(bigger, std::memory_order_release);
    return true;
  }

  std::vector<std::unique_ptr<buffer>> buffers_;  // owner only: the current one and those it replaced
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  buffer* current_;                // owner only: buffer_, without an atomic load
  std::int64_t top_seen_ = 0;      // owner only: a copy of top_, at most as large
  std::atomic<buffer*> buffer_{};  // read by thieves, written by the owner when it grows
};

}  // namespace coring::detail
