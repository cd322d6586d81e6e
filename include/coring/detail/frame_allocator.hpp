// Recycling allocator for coroutine frames and task cells.
//
// Blocks are sorted into 64-byte size classes. Each thread keeps a stack of free block addresses
// per class; a thread that frees more than it allocates (a worker finishing tasks another thread
// spawned) hands batches of `frame_batch` addresses to a global depot, and a thread that allocates
// more than it frees takes whole batches back, so producer/consumer patterns recycle memory too,
// with one short lock per batch instead of contending on malloc's arenas for every frame.
//
// The free blocks are kept as addresses, not linked through their own first word: a block freed by
// another core is still in that core's cache, and a list would make every allocation wait for that
// line before it could hand out the next block. With addresses the allocating thread only writes
// the block, and the writes of successive frames go out in parallel.
//
// Under AddressSanitizer the cache is bypassed, so that ASan still sees every use-after-free of a
// frame.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <new>
#include <vector>

#include "coring/detail/spin_lock.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define CORING_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORING_FRAME_CACHE 0
#endif
#endif
#ifndef CORING_FRAME_CACHE
#define CORING_FRAME_CACHE 1
#endif

namespace coring::detail {

inline constexpr std::size_t frame_granule = 64;
inline constexpr std::size_t frame_classes = 16;  // frames up to 1 KiB are recycled
inline constexpr std::size_t frame_batch = 64;    // blocks moved to or from the depot at once

constexpr std::size_t frame_class_of(std::size_t size) noexcept {
  return (size - 1) / frame_granule;
}

using frame_batch_t = std::array<void*, frame_batch>;

/// Batches of free blocks shared by all threads; one per size class. Never destroyed (threads
/// may exit after static destruction began); what it holds at exit is left to the OS.
class frame_depot {
 public:
  /// False when the depot could not grow (the caller keeps or frees the blocks).
  bool put(void* const* blocks) noexcept {
    std::lock_guard lock(lock_);
    try {
      batches_.emplace_back();
    } catch (...) {
      return false;
    }
    std::copy_n(blocks, frame_batch, batches_.back().begin());
    return true;
  }
  /// Copies one batch to `out`; false when the depot is empty.
  bool take(void** out) noexcept {
    std::lock_guard lock(lock_);
    if (batches_.empty()) return false;
    std::copy_n(batches_.back().begin(), frame_batch, out);
    batches_.pop_back();
    return true;
  }

 private:
  spin_lock lock_;
  std::vector<frame_batch_t> batches_;
};

inline frame_depot& depot_for(std::size_t size_class) noexcept {
  static frame_depot* const depots = new frame_depot[frame_classes];
  return depots[size_class];
}

class frame_cache {
 public:
  static constexpr std::size_t max_per_class = 4 * frame_batch;

  frame_cache() = default;
  frame_cache(const frame_cache&) = delete;
  frame_cache& operator=(const frame_cache&) = delete;
  ~frame_cache() {
    for (auto& stack : stacks_) {
      for (std::size_t i = 0; i < stack.count; ++i) free_block(stack.blocks[i]);
    }
  }

  void* allocate(std::size_t size) {
    const std::size_t c = frame_class_of(size);
    if (c >= frame_classes) return ::operator new(size);
    free_stack& stack = stacks_[c];
    if (stack.count == 0) {
      if (!depot_for(c).take(stack.blocks)) return ::operator new((c + 1) * frame_granule, block_alignment);
      stack.count = frame_batch;
    }
    return stack.blocks[--stack.count];
  }

  void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = frame_class_of(size);
    if (c >= frame_classes) {
      ::operator delete(p);
      return;
    }
    free_stack& stack = stacks_[c];
    if (stack.count == max_per_class) give_batch(c, stack);
    stack.blocks[stack.count++] = p;
  }

 private:
  // Recycled blocks start on a cache line: a frame or cell of up to 64 bytes is one line, not two,
  // and the fields read first (a frame's resume pointer, a cell's work item) share the first.
  static constexpr std::align_val_t block_alignment{frame_granule};
  static void free_block(void* p) noexcept { ::operator delete(p, block_alignment); }

  struct free_stack {
    std::size_t count = 0;
    void* blocks[max_per_class];
  };

  // Gives away the oldest batch (the bottom of the stack, the coldest blocks in this cache).
  static void give_batch(std::size_t c, free_stack& stack) noexcept {
    if (!depot_for(c).put(stack.blocks)) {
      for (std::size_t i = 0; i < frame_batch; ++i) free_block(stack.blocks[i]);
    }
    std::copy(stack.blocks + frame_batch, stack.blocks + stack.count, stack.blocks);
    stack.count -= frame_batch;
  }

  free_stack stacks_[frame_classes];
};

#if CORING_FRAME_CACHE
inline frame_cache& this_thread_frame_cache() noexcept {
  thread_local frame_cache cache;
  return cache;
}
inline void* allocate_frame(std::size_t size) {
  return this_thread_frame_cache().allocate(size);
}
inline void deallocate_frame(void* p, std::size_t size) noexcept {
  this_thread_frame_cache().deallocate(p, size);
}
#else
inline void* allocate_frame(std::size_t size) {
  return ::operator new(size);
}
inline void deallocate_frame(void* p, std::size_t) noexcept {
  ::operator delete(p);
}
#endif

}  // namespace coring::detail
