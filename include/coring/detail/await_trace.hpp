// SPDX-License-Identifier: MIT
// Where tasks wait and what threads run: the records behind runtime::dump_tasks() and the stall
// detector (runtime_options::stall_threshold).
//
// Every co_await in a task goes through the promise's await_transform, which wraps the awaiter
// in a traced_awaiter holding the std::source_location of the co_await (in libstdc++ one pointer
// to static data, so keeping it costs a store, never an allocation). The wrapper writes:
//   - on suspension, into the task tree's task_trace (allocated when the tree is entered in the
//     registry, before its first suspension): the site of each frame's wait by frame depth, the
//     innermost wait's kind and argument, and the time (coarse_clock_ms, kept by the watchdog);
//   - on resumption, into the running thread's thread_watch: the site and the tree's spawn site.
// Schedulers bracket each run of a task (run_scope) so the stall detector can see a run that
// does not end. Readers on other threads only read these atomics, and only under the registry's
// shard lock (traces) or while the runtime owns the thread (watches), so reading never races with
// a frame or cell being freed.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <source_location>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace coring::detail {

/// What a task waits for, as an awaiter may say through `wait_note note_wait() const noexcept`
/// (awaiters without it are named by their type).
struct wait_note {
  const char* kind = nullptr;  // static text: "sleep", "read", "channel receive", ...
  int fd = -1;                 // the descriptor waited on, or -1
  std::uint64_t until_ns = 0;  // a deadline on the steady clock, or 0
};

/// The steady clock in milliseconds as the watchdog threads last wrote it (src/observe/watchdog:
/// each writes it at every look, a few times per stall threshold): a suspension reads it instead
/// of a clock, a relaxed load of a line nobody else writes. Stale while no watchdog runs.
inline std::atomic<std::uint64_t> coarse_clock_ms{0};

inline std::uint64_t coarse_now_ms() noexcept {
  return coarse_clock_ms.load(std::memory_order_relaxed);
}

/// A runtime thread's record for the stall detector and the dump. Written by its thread only.
struct thread_watch {
  std::atomic<std::uint64_t> runs{0};              // run_scope starts and ends: changes while tasks run
  std::atomic<unsigned> depth{0};                  // runs in progress (an inline resume nests one)
  std::atomic<std::source_location> await_site{};  // the co_await the running task resumed from
  std::atomic<std::source_location> spawn_site{};  // where the running task's tree was spawned
  char name[24] = {};                              // "io-0", "cpu-3"

  void begin() noexcept {
    runs.store(runs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (depth.load(std::memory_order_relaxed) == 0) {
      await_site.store({}, std::memory_order_relaxed);
      spawn_site.store({}, std::memory_order_relaxed);
    }
    depth.store(depth.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void end() noexcept {
    depth.store(depth.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    runs.store(runs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

/// One task tree's record of where it waits. Written by the thread that runs the tree (its runs
/// are sequential), read by dump_tasks() under the registry shard lock that also guards freeing it.
struct task_cell;

struct task_trace {
  static constexpr unsigned max_depth = 12;  // deeper frames share the last slot
  task_cell* prev = nullptr;                 // the registry shard's list, guarded by its lock
  task_cell* next = nullptr;
  std::atomic<std::source_location> sites[max_depth] = {};
  std::atomic<unsigned> depth{0};  // of the innermost frame
  std::atomic<const std::type_info*> awaiter{nullptr};
  std::atomic<const char*> kind{nullptr};
  std::atomic<int> fd{-1};
  std::atomic<std::uint64_t> until_ns{0};
  std::atomic<std::uint64_t> since_ms{0};                // coarse_now_ms() at the suspension
  std::atomic<const thread_watch*> running_on{nullptr};  // the thread running it; null: suspended
};

/// The watch of the calling thread (null on threads no runtime owns).
inline thread_watch*& current_watch() noexcept {
  thread_local thread_watch* watch = nullptr;
  return watch;
}

/// The awaiter that `co_await a` would use (its operator co_await, member or free, else itself).
template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    return static_cast<A&&>(a).operator co_await();
  } else if constexpr (requires { operator co_await(static_cast<A&&>(a)); }) {
    return operator co_await(static_cast<A&&>(a));
  } else {
    return static_cast<A&&>(a);
  }
}

template <class A>
using awaiter_type = decltype(awaiter_of(std::declval<A>()));

template <class Awaiter>
wait_note note_of(const Awaiter& awaiter) noexcept {
  if constexpr (requires { awaiter.note_wait(); }) {
    return awaiter.note_wait();
  } else {
    return {};
  }
}

}  // namespace coring::detail
