// SPDX-License-Identifier: MIT
// One operation in flight on an event loop: a ring operation (read, accept, ...) or a timer.
//
// The op lives in the awaiting coroutine's frame (inside the awaitable). It is described by plain
// fields here; the backend turns it into a submission, and the loop calls complete() with the
// kernel's result. The op stays valid until its last completion has been reaped, also when the
// task asks to cancel it: the task is resumed only when `pending_` drops to zero, and a task
// frame is never destroyed while one of its ops is pending (runtime shutdown first cancels and
// reaps every op, then destroys the frames).
//
// Threads: the awaiting thread fills the fields and calls start_op(); from then on the op belongs
// to its loop's thread, except `pending_`, which a stop request on another thread may raise.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <type_traits>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/task.hpp"

namespace coring::detail {

enum class op_code : std::uint8_t {
  timer,  // `offset` is the deadline in steady_clock nanoseconds
  read,
  write,
  openat,
  close,
  accept,
  connect,
  recv,
  send,
  fsync,
  poll,
  unlinkat,  // address: path; op_flags: AT_REMOVEDIR or 0
  renameat,  // address: old path; buffer: new path
  mkdirat,   // address: path; mode
  statx,     // address: path ("" with op_flags AT_EMPTY_PATH for fd); op_flags; mode: mask; buffer: struct
             // statx*
  sendmsg,   // buffer: msghdr*; op_flags: MSG_* flags
  recvmsg,   // buffer: msghdr*; op_flags: MSG_* flags
  accept_multishot,  // a multishot (see multishot.hpp): one accepted socket per completion
  recv_multishot,    // a multishot: one received chunk per completion, in a ring-provided buffer
  take_next,         // never reaches the kernel: takes the next completion of the multishot in `buffer`
  send_zc,           // like send, without copying: completes after the kernel's notification that
                     // it no longer reads `buffer`
  readv,             // buffer: const iovec*; len: iovec count; offset: file offset
  writev,            // buffer: const iovec*; len: iovec count; offset: file offset
  register_file,     // buffer: int* (the descriptor); the result is its slot in the ring's file table
};

struct io_op;

struct op_start_item : work_item {};
struct op_cancel_item : work_item {};

/// The op is its own work items and stop hook, so none of them needs a pointer back to it:
/// - the start item hands the op to its loop (when started from another thread) and later resumes
///   the task on its home; the two uses never overlap;
/// - the cancel item carries a stop request to the loop;
/// - the cancel_hook is registered with the task tree's cancel_scope while the op is in flight.
struct io_op : op_start_item, op_cancel_item, cancel_hook {
  // What to do (written by the awaiting thread before start_op).
  op_code code = op_code::timer;
  // Loop-thread state.
  bool in_kernel = false;
  bool finished = false;
  bool cancel_requested = false;
  bool timed_out = false;           // its linked deadline expired (the result becomes -ETIMEDOUT)
  bool awaiting_readiness = false;  // got -EAGAIN: a readiness poll runs before the retry
  bool fixed_file = false;          // `fd` is a slot of the loop's registered-file table
  int fd = -1;
  std::uint32_t len = 0;
  std::uint32_t op_flags = 0;  // open flags, msg flags, poll mask, fsync flags
  std::uint32_t mode = 0;
  // The outcome: >= 0 on success, -errno on failure.
  int result = 0;
  std::uint32_t heap_index = 0;           // timers
  std::atomic<std::uint32_t> pending{0};  // 1 for the op + 1 per stop request still in flight
  std::uint64_t offset = 0;               // file offset, or a timer's deadline in steady_clock ns
  // Absolute steady_clock deadline in ns (0: none). Ring ops get a linked IORING_OP_LINK_TIMEOUT;
  // timers fire at the earlier of the two.
  std::uint64_t deadline = 0;
  void* buffer = nullptr;
  const void* address = nullptr;  // sockaddr, path; accept: where the peer's address goes, with
                                  // `buffer` pointing at its socklen_t length

  // Where the task resumes.
  std::coroutine_handle<> waiter;
  scheduler* home = nullptr;
  event_loop_impl* loop = nullptr;

  cancel_scope* scope = nullptr;  // where the hook is registered

  io_op() noexcept = default;
  io_op(const io_op&) = delete;
  io_op& operator=(const io_op&) = delete;
  /// Also runs when a frame is destroyed at shutdown with the op registered.
  ~io_op() { forget_scope(); }

  work_item* start_item() noexcept { return static_cast<op_start_item*>(this); }
  work_item* cancel_item() noexcept { return static_cast<op_cancel_item*>(this); }
  static io_op& from_start_item(work_item* w) noexcept {
    return static_cast<io_op&>(*static_cast<op_start_item*>(w));
  }
  static io_op& from_cancel_item(work_item* w) noexcept {
    return static_cast<io_op&>(*static_cast<op_cancel_item*>(w));
  }

  void forget_scope() noexcept {
    if (scope != nullptr) {
      scope->remove(*this);
      scope = nullptr;
    }
  }
};

/// Where an op goes: a descriptor, or a slot in one loop's registered-file table (then the op must
/// run on that loop, whatever pool the task is on).
struct io_target {
  int fd = -1;
  event_loop_impl* loop = nullptr;
  bool fixed = false;
};

/// Loop-thread side of a registered file going away: frees `slot` of `loop`'s table (any thread).
void release_registered_file(event_loop_impl* loop, int slot) noexcept;

/// Starts `op` for the coroutine `awaiting`, which runs on the calling thread. Returns false when
/// the op completed at once (no runtime, or stop already requested): then the caller must not suspend.
bool start_op(io_op& op, std::coroutine_handle<> awaiting, task_root* root) noexcept;

/// The awaitable part every I/O operation shares; derived types add await_resume().
struct op_awaitable {
  io_op op;

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    return start_op(op, awaiting, root_of(awaiting));
  }
  /// Drops the stop registration (waits for a stop callback running on another thread).
  int finish() noexcept {
    op.forget_scope();
    return op.result;
  }
};

}  // namespace coring::detail
