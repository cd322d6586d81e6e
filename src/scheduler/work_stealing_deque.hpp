// SPDX-License-Identifier: MIT
// A growable Chase-Lev deque of work items whose thieves take up to half of it at once.
//
// The owner pushes and pops at the bottom (LIFO: the newest task runs next, while its data is hot);
// thieves take from the top (FIFO: the oldest, usually the biggest pieces of work). A full buffer
// is replaced by one twice its size (Chase and Lev, SPAA 2005), so a worker that spawns faster
// than the others can steal keeps its work in one place. Replaced buffers stay allocated until the
// deque is destroyed, because a thief may still read a slot of one; the sizes double, so they
// never add up to more than the current buffer.
//
// Batches: a thief claims up to max_steal items (and never more than half of what it saw) with one
// CAS on `top_`. Taking items one by one, a thief that follows a spawning owner reads the owner's
// `bottom_` line, just written, for every item; in batches it reads it once per batch and can
// fetch the batch's items in parallel. A claim is computed from a `bottom_` the owner may since
// have lowered by popping, so the owner pops without a CAS only at least max_steal items above
// `top_`, where no claim based on the current `top_` reaches. Closer to the top it validates
// with a CAS that bumps the tag packed into `top_`, failing every claim read before it (the paper
// needs a CAS only for the last item, because its thieves take one item: exactly the top one).
//
// Memory ordering: the fences of Lê, Pop, Cohen and Zappa Nardelli (PPoPP 2013) are written as
// seq_cst operations on `bottom_` and `top_`, which ThreadSanitizer understands. push publishes the
// item (and a new buffer) with a release store of bottom_, paired with the seq_cst load of bottom_
// in steal(), which loads the buffer after bottom_.
#pragma once

#include <algorithm>
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
  /// The most items one steal takes.
  static constexpr std::size_t max_steal = 32;

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
      top_seen_ = index_of(top_.load(std::memory_order_acquire));
      if (b - top_seen_ >= current_->capacity && !grow(top_seen_, b)) return false;
    }
    current_->at(b).store(item, std::memory_order_relaxed);
    bottom_.store(b + 1, std::memory_order_release);
    // The stale copy of top_ overstates the depth: read the real one only when the copy says this
    // may be a new peak (rarely, once the peak is known).
    if (b + 1 - top_seen_ > peak_seen_) {
      top_seen_ = index_of(top_.load(std::memory_order_acquire));
      if (b + 1 - top_seen_ > peak_seen_) {
        peak_seen_ = b + 1 - top_seen_;
        peak_.store(static_cast<std::uint64_t>(peak_seen_), std::memory_order_relaxed);
      }
    }
    return true;
  }

  /// Owner only.
  work_item* pop() noexcept {
    // Empty now is empty for good (top only grows, and only the owner pushes): skip the fence.
    if (bottom_.load(std::memory_order_relaxed) <= index_of(top_.load(std::memory_order_relaxed)))
      return nullptr;
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    bottom_.store(b, std::memory_order_seq_cst);
    std::uint64_t top = top_.load(std::memory_order_seq_cst);
    for (;;) {
      const std::int64_t t = index_of(top);
      if (t > b) {  // thieves took everything
        bottom_.store(b + 1, std::memory_order_relaxed);
        return nullptr;
      }
      work_item* item = current_->at(b).load(std::memory_order_relaxed);
      if (b - t >= static_cast<std::int64_t>(max_steal)) return item;
      if (t == b) {  // the last item: take it from the top, like a thief
        const bool won = top_.compare_exchange_strong(top, pack(t + 1, tag_of(top)),
                                                      std::memory_order_seq_cst, std::memory_order_relaxed);
        bottom_.store(b + 1, std::memory_order_relaxed);
        return won ? item : nullptr;
      }
      // Near the top: fail any claim made from a bottom_ read before this pop lowered it. A claim
      // that wins meanwhile makes the CAS fail; look again at where it left the top.
      if (top_.compare_exchange_strong(top, pack(t, tag_of(top) + 1), std::memory_order_seq_cst,
                                       std::memory_order_seq_cst)) {
        return item;
      }
    }
  }

  /// Any thread: takes up to `max` items (at most max_steal, at most half, rounded up) into `out`,
  /// oldest first; returns how many.
  std::size_t steal(work_item** out, std::size_t max) noexcept {
    max = std::min(max, max_steal);
    for (;;) {
      std::uint64_t top = top_.load(std::memory_order_seq_cst);
      const std::int64_t t = index_of(top);
      const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
      if (t >= b) return 0;
      const std::size_t n = std::min(max, static_cast<std::size_t>((b - t + 1) / 2));
      buffer* buf = buffer_.load(std::memory_order_acquire);
      // Read before the claim: once top_ moves past them the owner may reuse these slots.
      for (std::size_t i = 0; i < n; ++i)
        out[i] = buf->at(t + static_cast<std::int64_t>(i)).load(std::memory_order_relaxed);
      if (top_.compare_exchange_strong(top, pack(t + static_cast<std::int64_t>(n), tag_of(top)),
                                       std::memory_order_seq_cst, std::memory_order_relaxed)) {
        return n;
      }
    }
  }

  /// Any thread: takes the oldest item, or nullptr.
  work_item* steal() noexcept {
    work_item* item = nullptr;
    return steal(&item, 1) == 1 ? item : nullptr;
  }

  /// Approximate; any thread.
  std::int64_t size() const noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    const std::int64_t t = index_of(top_.load(std::memory_order_seq_cst));
    return b > t ? b - t : 0;
  }

  /// Any thread: the most items it held after a push.
  std::uint64_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

  /// Owner only (or with no concurrent push): how many slots the current buffer has.
  std::int64_t capacity() const noexcept { return current_->capacity; }

 private:
  // top_ packs the index of the oldest item (low 40 bits: a trillion pushes) with a tag that the
  // owner bumps to fail stale claims (high 24 bits: a thief would have to sleep through 16 million
  // near-top pops between its two reads of top_ to see the same value again).
  static constexpr int index_bits = 40;
  static constexpr std::uint64_t index_mask = (std::uint64_t{1} << index_bits) - 1;
  static std::int64_t index_of(std::uint64_t top) noexcept {
    return static_cast<std::int64_t>(top & index_mask);
  }
  static std::uint64_t tag_of(std::uint64_t top) noexcept { return top >> index_bits; }
  static std::uint64_t pack(std::int64_t index, std::uint64_t tag) noexcept {
    return (tag << index_bits) | (static_cast<std::uint64_t>(index) & index_mask);
  }

  struct buffer {
    std::int64_t capacity;
    std::unique_ptr<std::atomic<work_item*>[]> slots;
    std::atomic<work_item*>& at(std::int64_t i) noexcept {
      return slots[static_cast<std::size_t>(i & (capacity - 1))];
    }
  };

  buffer* make_buffer(std::int64_t capacity) {
    buffers_.push_back(std::make_unique<buffer>(
        buffer{capacity, std::make_unique<std::atomic<work_item*>[]>(static_cast<std::size_t>(capacity))}));
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
    for (std::int64_t i = t; i < b; ++i) {
      bigger->at(i).store(current_->at(i).load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    current_ = bigger;
    buffer_.store(bigger, std::memory_order_release);
    return true;
  }

  std::vector<std::unique_ptr<buffer>> buffers_;  // owner only: the current one and those it replaced
  alignas(64) std::atomic<std::uint64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  buffer* current_;             // owner only: buffer_, without an atomic load
  std::int64_t top_seen_ = 0;   // owner only: the index in a copy of top_, at most as large
  std::int64_t peak_seen_ = 0;  // owner only: peak_, without an atomic load
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<buffer*> buffer_{};  // read by thieves, written by the owner when it grows
};

}  // namespace coring::detail
