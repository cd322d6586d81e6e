// Recycling allocator for coroutine frames and task cells.
//
// Blocks are sorted into 64-byte size classes. Each thread keeps a free list per class; a thread
// that frees more than it allocates (a worker finishing tasks another thread spawned) hands
// batches of `batch` blocks to a global depot, and a thread that allocates more than it frees
// takes whole batches back, so producer/consumer patterns recycle memory too, with one lock per
// batch instead of contending on malloc's arenas for every frame.
//
// Under AddressSanitizer the cache is bypassed, so that ASan still sees every use-after-free of a
// frame.
#pragma once

#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

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

struct frame_node {
  frame_node* next;
};

inline constexpr std::size_t frame_granule = 64;
inline constexpr std::size_t frame_classes = 16;  // frames up to 1 KiB are recycled
inline constexpr std::size_t frame_batch = 64;    // blocks moved to or from the depot at once

constexpr std::size_t frame_class_of(std::size_t size) noexcept {
  return (size - 1) / frame_granule;
}

/// Batches of free blocks shared by all threads; one per size class. Never destroyed (threads
/// may exit after static destruction began); what it holds at exit is left to the OS.
class frame_depot {
 public:
  void put(frame_node* batch_head) {
    std::lock_guard lock(mutex_);
    batches_.push_back(batch_head);
  }
  frame_node* take() noexcept {
    std::lock_guard lock(mutex_);
    if (batches_.empty()) return nullptr;
    frame_node* head = batches_.back();
    batches_.pop_back();
    return head;
  }

 private:
  std::mutex mutex_;
  std::vector<frame_node*> batches_;
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
    for (auto& list : lists_) {
      while (list.head != nullptr) {
        frame_node* n = list.head;
        list.head = n->next;
        ::operator delete(n);
      }
    }
  }

  void* allocate(std::size_t size) {
    const std::size_t c = frame_class_of(size);
    if (c >= frame_classes) return ::operator new(size);
    free_list& list = lists_[c];
    if (list.head == nullptr) {
      list.head = depot_for(c).take();
      if (list.head == nullptr) return ::operator new((c + 1) * frame_granule);
      list.count = frame_batch;
    }
    frame_node* n = list.head;
    list.head = n->next;
    --list.count;
    return n;
  }

  void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = frame_class_of(size);
    if (c >= frame_classes) {
      ::operator delete(p);
      return;
    }
    free_list& list = lists_[c];
    list.head = new (p) frame_node{list.head};
    if (++list.count >= max_per_class) give_batch(c, list);
  }

 private:
  struct free_list {
    frame_node* head = nullptr;
    std::size_t count = 0;
  };

  static void give_batch(std::size_t c, free_list& list) noexcept {
    frame_node* batch_head = list.head;
    frame_node* last = batch_head;
    for (std::size_t i = 1; i < frame_batch; ++i) last = last->next;
    list.head = last->next;
    last->next = nullptr;
    list.count -= frame_batch;
    try {
      depot_for(c).put(batch_head);
    } catch (...) {  // the depot could not grow: give the memory back instead
      while (batch_head != nullptr) {
        frame_node* n = batch_head;
        batch_head = n->next;
        ::operator delete(n);
      }
    }
  }

  free_list lists_[frame_classes];
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
