// SPDX-License-Identifier: MIT
// One operation in flight on an event loop: a ring operation (read, accept, ...) or a timer.
//
// The op lives in the awaiting coroutine's frame (inside the awaitable). What it does is its code
// and that code's arguments (op_code says which member of `args`); the backend turns it into a
// request, and the loop completes it with the kernel's result. The op stays valid until its last completion
// has been reaped, also when the task asks to cancel it: the task is resumed only when `pending_` drops to
// zero, and a task frame is never destroyed while one of its ops is pending (runtime shutdown first cancels
// and reaps every op, then destroys the frames).
//
// Threads: the awaiting thread fills the fields and calls start_op(); from then on the op belongs
// to its loop's thread, except `pending_`, which a stop request on another thread may raise.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <type_traits>

#include "coring/detail/cancel_scope.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/task.hpp"

struct statx;  // <linux/stat.h>: only pointed to here

namespace coring::detail {

enum class op_code : std::uint8_t {
  // Each op's arguments are the member of io_op::args named in the comment.
  timer,             // args.timer: fires at `when` (or at the op's deadline, if earlier)
  read,              // args.transfer at args.transfer.offset
  write,             // args.transfer at args.transfer.offset
  openat,            // args.path: path, flags (O_*), mode
  close,             // (fd only)
  accept,            // args.accept: where the peer's address goes (both may be null), flags
  connect,           // args.connect
  recv,              // args.transfer with msg_flags
  send,              // args.transfer with msg_flags
  fsync,             // args.sync: 0, or fsync_datasync_flag
  poll,              // args.poll: the events to wait for
  unlinkat,          // args.path: path, flags (0 or AT_REMOVEDIR)
  renameat,          // args.rename
  mkdirat,           // args.path: path, mode
  statx,             // args.stat ("" with AT_EMPTY_PATH in flags: the fd itself)
  sendmsg,           // args.message
  recvmsg,           // args.message
  accept_multishot,  // a multishot (see multishot.hpp): one accepted socket per completion
  recv_multishot,    // a multishot: one received chunk per completion, in a provided buffer
  take_next,         // args.take: never reaches the kernel: takes the next completion of a multishot
  send_zc,           // args.transfer, like send, without copying: completes after the kernel's
                     // notification that it no longer reads the data
  readv,             // args.vectored at args.vectored.offset
  writev,            // args.vectored at args.vectored.offset
  register_file,     // args.registration: the descriptor; the result is its slot in the file table
};

/// fsync's flag for fdatasync (the kernel's IORING_FSYNC_DATASYNC; the backend checks they agree).
inline constexpr std::uint32_t fsync_datasync_flag = 1u;

struct multishot;

/// The arguments of each kind of op (one is live, chosen by the op code; see op_code).
namespace op_args {
struct transfer {
  void* data;
  std::uint32_t len;
  std::uint32_t msg_flags;  // recv, send, send_zc: MSG_*
  std::uint64_t offset;     // read, write: the file offset
};
struct vectored {
  const iovec* entries;
  std::uint32_t count;
  std::uint64_t offset;
};
struct message {
  msghdr* header;
  std::uint32_t msg_flags;
};
struct path {
  const char* name;
  std::uint32_t flags;
  std::uint32_t mode;
};
struct rename {
  const char* from;
  const char* to;
};
struct stat {
  const char* name;
  std::uint32_t flags;  // AT_*
  std::uint32_t mask;   // STATX_*
  struct ::statx* out;
};
struct accept {
  sockaddr* peer;
  socklen_t* peer_len;
  std::uint32_t flags;  // SOCK_*
};
struct connect {
  const sockaddr* peer;
  socklen_t peer_len;
};
struct poll {
  std::uint32_t events;
};
struct sync {
  std::uint32_t flags;
};
struct timer {
  std::uint64_t when;  // steady_clock nanoseconds
};
struct take {
  multishot* source;
  std::int32_t buffer;  // out: the provided buffer the taken completion filled, or -1
};
struct registration {
  int* descriptor;
};
}  // namespace op_args

struct io_op;

struct op_start_item : work_item {};
struct op_cancel_item : work_item {};

/// The op is its own work items and stop hook, so none of them needs a pointer back to it:
/// - the start item is queued at most once at a time, for one of these (its `run`):
///     submit_posted          start_op on another thread than the loop's: hands the op to the loop
///     finish_deferred_cancel a stop request overtook the start: completes it with -ECANCELED
///     run_deferred_finish    the result is known at start (a queued multishot completion, a
///                            registered-file table that could not be made): completes it
///     resume_waiter          the op is done and its task's home is another pool: resumes the task
///   the last two complete the op from the loop's ready queue, never inside await_suspend;
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
  // The outcome: >= 0 on success, -errno on failure.
  int result = 0;
  std::uint32_t heap_index = 0;           // timers
  std::atomic<std::uint32_t> pending{0};  // 1 for the op + 1 per stop request still in flight
  // Absolute steady_clock deadline in ns (0: none). Ring ops get a linked IORING_OP_LINK_TIMEOUT;
  // timers fire at the earlier of the two.
  std::uint64_t deadline = 0;
  // What the op works on: the member named by `code` (see op_code).
  union arguments {
    op_args::transfer transfer;
    op_args::vectored vectored;
    op_args::message message;
    op_args::path path;
    op_args::rename rename;
    op_args::stat stat;
    op_args::accept accept;
    op_args::connect connect;
    op_args::poll poll;
    op_args::sync sync;
    op_args::timer timer;
    op_args::take take;
    op_args::registration registration;
  } args{.timer = {0}};

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

/// What a task waiting for `op` waits for, for runtime::dump_tasks() (await_trace.hpp).
inline wait_note describe_op(const io_op& op) noexcept {
  static constexpr const char* names[] = {
      "sleep",          "read",          "write",          "open",
      "close",          "accept",        "connect",        "receive",
      "send",           "fsync",         "readiness",      "unlink",
      "rename",         "mkdir",         "stat",           "send",
      "receive",        "accept stream", "receive stream", "next of a stream",
      "zero-copy send", "read",          "write",          "file registration"};
  static_assert(sizeof names / sizeof names[0] == static_cast<unsigned>(op_code::register_file) + 1);
  wait_note note;
  note.kind = names[static_cast<unsigned>(op.code)];
  if (!op.fixed_file && op.fd >= 0) note.fd = op.fd;
  note.until_ns = op.code == op_code::timer ? op.args.timer.when : op.deadline;
  return note;
}

/// The awaitable part every I/O operation shares; derived types add await_resume().
struct op_awaitable {
  io_op op;

  wait_note note_wait() const noexcept { return describe_op(op); }

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
