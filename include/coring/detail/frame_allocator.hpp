// SPDX-License-Identifier: MIT
// Recycling allocator for coroutine frames and task cells.
//
// Blocks are sorted into 64-byte size classes and made 64 at a time from one allocation (a slab),
// aligned to a cache line; they are never returned to malloc, so a burst of tasks leaves its memory
// here for the next one. Each thread keeps a stack of free block addresses per class; a thread that
// frees more than it allocates (a worker finishing tasks another thread spawned) hands batches of
// `frame_batch` addresses to a global depot, and a thread that allocates more than it frees takes
// whole batches back, so producer/consumer patterns recycle memory too, with one short lock per
// batch instead of contending on malloc's arenas for every frame. A thread that exits leaves its
// blocks in the depot.
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
#include <deque>
#include <new>

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
inline constexpr std::size_t frame_classes = 32;  // frames up to 2 KiB are recycled
inline constexpr std::size_t frame_batch = 64;    // blocks moved to or from the depot at once

constexpr std::size_t frame_class_of(std::size_t size) noexcept {
  return (size - 1) / frame_granule;
}

/// Batches of free blocks shared by all threads; one per size class. Never destroyed (threads
/// may exit after static destruction began); what it holds at exit is left to the OS.
class frame_depot {
 public:
  /// Keeps `count` (at most frame_batch) blocks.
  void put(void* const* blocks, std::size_t count) noexcept {
    std::lock_guard lock(lock_);
    try {
      batches_.push_back(batch{});
      std::copy_n(blocks, count, batches_.back().blocks.begin());
      batches_.back().count = count;
    } catch (...) {  // no memory for the list: link the blocks through themselves instead
      for (std::size_t i = 0; i < count; ++i) spilled_ = new (blocks[i]) spilled_block{spilled_};
    }
  }
  /// Moves up to frame_batch blocks to `out`; returns how many (0: the depot is empty).
  std::size_t take(void** out) noexcept {
    std::lock_guard lock(lock_);
    if (!batches_.empty()) {
      const std::size_t count = batches_.back().count;
      std::copy_n(batches_.back().blocks.begin(), count, out);
      batches_.pop_back();
      return count;
    }
    std::size_t count = 0;
    for (; spilled_ != nullptr && count < frame_batch; ++count) {
      out[count] = spilled_;
      spilled_ = spilled_->next;
    }
    return count;
  }

 private:
  struct batch {
    std::array<void*, frame_batch> blocks;
    std::size_t count;
  };
  struct spilled_block {
    spilled_block* next;
  };

  spin_lock lock_;
  std::deque<batch> batches_;  // a deque: growing it never copies what it holds
  spilled_block* spilled_ = nullptr;
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
    for (std::size_t c = 0; c < frame_classes; ++c) {
      free_stack& stack = stacks_[c];
      for (std::size_t i = 0; i < stack.count; i += frame_batch) {
        depot_for(c).put(stack.blocks + i, std::min(frame_batch, stack.count - i));
      }
      delete[] stack.blocks;
    }
  }

  void* allocate(std::size_t size) {
    const std::size_t c = frame_class_of(size);
    if (c >= frame_classes) return ::operator new(size);
    free_stack& stack = stacks_[c];
    if (stack.count == 0) {
      if (stack.blocks == nullptr) stack.blocks = new void*[max_per_class];
      stack.count = depot_for(c).take(stack.blocks);
      if (stack.count == 0) carve_slab(c, stack);
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
    if (stack.blocks == nullptr) {
      stack.blocks = new (std::nothrow) void*[max_per_class];
      if (stack.blocks == nullptr) return depot_for(c).put(&p, 1);
    }
    if (stack.count == max_per_class) give_batch(c, stack);
    stack.blocks[stack.count++] = p;
  }

 private:
  // A thread's stack of a class is allocated when it first uses the class: most threads use a
  // few of the 32 classes, and a thread-local array for all of them would be 64 KiB.
  struct free_stack {
    std::size_t count = 0;
    void** blocks = nullptr;  // max_per_class entries
  };

  // New blocks come frame_batch at a time from one allocation that starts on a cache line: no
  // malloc header per block, and a frame or cell of up to 64 bytes is one line, not two (the
  // fields read first, a frame's resume pointer or a cell's work item, are in its first line).
  // Slabs are never handed back to malloc: their blocks circulate between the threads' caches
  // and the depot, like the blocks of a pool.
  static void carve_slab(std::size_t c, free_stack& stack) {
    const std::size_t block = (c + 1) * frame_granule;
    auto* slab =
        static_cast<unsigned char*>(::operator new (frame_batch* block, std::align_val_t{frame_granule}));
    for (std::size_t i = 0; i < frame_batch; ++i) stack.blocks[i] = slab + (frame_batch - 1 - i) * block;
    stack.count = frame_batch;
  }

  // Gives away the oldest batch (the bottom of the stack, the coldest blocks in this cache).
  static void give_batch(std::size_t c, free_stack& stack) noexcept {
    depot_for(c).put(stack.blocks, frame_batch);
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
