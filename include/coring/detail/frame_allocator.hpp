// Per-thread recycling allocator for coroutine frames and task cells.
//
// Blocks are sorted into 64-byte size classes; each thread keeps a bounded free list per class, so
// the steady state of spawn/complete allocates nothing from malloc. A block freed on another thread
// than the one that allocated it simply joins the freeing thread's list (or goes back to the global
// heap when that list is full). Under AddressSanitizer the cache is bypassed, so that ASan still
// sees every use-after-free of a frame.
#pragma once

#include <cstddef>
#include <new>

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

class frame_cache {
 public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t classes = 16;          // frames up to 1 KiB are cached
  static constexpr std::size_t max_per_class = 4096;  // bounds what one thread can hoard

  frame_cache() = default;
  frame_cache(const frame_cache&) = delete;
  frame_cache& operator=(const frame_cache&) = delete;
  ~frame_cache() {
    for (auto& list : lists_) {
      while (list.head != nullptr) {
        node* n = list.head;
        list.head = n->next;
        ::operator delete(n);
      }
    }
  }

  void* allocate(std::size_t size) {
    const std::size_t c = class_of(size);
    if (c < classes) {
      free_list& list = lists_[c];
      if (list.head != nullptr) {
        node* n = list.head;
        list.head = n->next;
        --list.count;
        return n;
      }
      return ::operator new((c + 1) * granule);
    }
    return ::operator new(size);
  }

  void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    if (c < classes && lists_[c].count < max_per_class) {
      free_list& list = lists_[c];
      list.head = new (p) node{list.head};
      ++list.count;
      return;
    }
    ::operator delete(p);
  }

 private:
  struct node {
    node* next;
  };
  struct free_list {
    node* head = nullptr;
    std::size_t count = 0;
  };
  static constexpr std::size_t class_of(std::size_t size) noexcept { return (size - 1) / granule; }

  free_list lists_[classes];
};

#if CORING_FRAME_CACHE
inline frame_cache& this_thread_frame_cache() noexcept {
  thread_local frame_cache cache;
  return cache;
}
inline void* allocate_frame(std::size_t size) { return this_thread_frame_cache().allocate(size); }
inline void deallocate_frame(void* p, std::size_t size) noexcept {
  this_thread_frame_cache().deallocate(p, size);
}
#else
inline void* allocate_frame(std::size_t size) { return ::operator new(size); }
inline void deallocate_frame(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

}  // namespace coring::detail
