// SPDX-License-Identifier: MIT
// The kernel behind an event loop. Its verbs, by role:
//   op flow          submit, cancel, cancel_all, wait (submits, waits, reaps), flush, wake
//   loop lifecycle   attach_to_current_thread, completions_pending, take_failure_report,
//                    readiness_fd/clear_readiness (a host's poll), in_flight, counters, describe
//   ring resources   provided buffers (provide_buffers, buffer_data, recycle_buffer) and the
//                    registered-file table (enable_registered_files, close_registered_file)
//
// The backend knows io_op but never a coroutine: it turns ops into kernel requests and hands each
// completion back through `completion_sink`.
//
// Threads: everything but wake() is called by the loop's thread only.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "coring/detail/io_op.hpp"

namespace coring::detail {

/// What a completion says beyond its result.
struct completion_flags {
  bool more = false;          // the op will complete again (multishot, zero-copy send)
  bool notification = false;  // a zero-copy send's "buffer released" notification
  std::int32_t buffer = -1;   // the provided buffer the kernel filled, or -1
};

class completion_sink {
 public:
  /// One completion of `op`: `result` is >= 0 or -errno.
  virtual void on_completion(io_op& op, int result, completion_flags flags) noexcept = 0;
  /// The readiness poll that runs before retrying an op that got -EAGAIN has completed.
  virtual void on_ready(io_op& op, int result) noexcept = 0;
  /// The linked timeout submitted with an op that has a deadline has completed (-ETIME: it fired).
  virtual void on_deadline(io_op& op, int result) noexcept = 0;

 protected:
  ~completion_sink() = default;
};

struct backend_counters {
  std::uint64_t submissions = 0;   // requests handed to the kernel
  std::uint64_t completions = 0;   // completions reaped
  std::uint64_t enters = 0;        // system calls into the kernel
  std::uint64_t sq_full = 0;       // a request found the submission queue full (io_uring only)
  std::uint64_t cq_overflows = 0;  // waits that found the completion queue overflowed (io_uring only)
};

/// What an op that got -EAGAIN waits for before it is retried (poll(2) bits, which epoll shares).
inline unsigned readiness_events(op_code code) noexcept {
  switch (code) {
    case op_code::write:
    case op_code::send:
    case op_code::send_zc:
    case op_code::sendmsg:
    case op_code::writev:
    case op_code::connect:
      return POLLOUT;
    default:
      return POLLIN;
  }
}

/// How many completions one wait() hands on at most: a bound on a loop's turn.
inline constexpr std::size_t completions_per_wait = 256;

struct enter_failure_injection {
  int error = 0;
  unsigned count = 0;
};

/// What this process's kernel lets the io_uring backend use, found once per process by a throwaway
/// ring: setup, the opcode probe and one enter (a filter may block any of the three). Features
/// that are flags rather than opcodes cannot be probed: each is told by an opcode of the kernel
/// release that brought it (IORING_OP_SOCKET: 5.19, IORING_OP_SEND_ZC: 6.0).
struct uring_support {
  int error = 0;    // nonzero: io_uring cannot run coring here, and `why` says what refused it
  std::string why;  // e.g. "io_uring_setup: Operation not permitted", "no IORING_OP_MKDIRAT (5.15)"
  // Linux 5.19. Without them: one accept per request, receive streams on IORING_OP_PROVIDE_BUFFERS,
  // no registered files (register_in_ring() says operation_not_supported), shutdown cancels op by op.
  bool multishot_accept = false;
  bool buffer_rings = false;
  bool file_index_alloc = false;
  bool cancel_any = false;
  bool cooperative_task_run = false;
  // Linux 6.0. Without them: one receive per request, a copying send, a ring any thread may enter.
  bool multishot_receive = false;
  bool zero_copy_send = false;
  bool single_issuer = false;
};

/// The probe's findings, with what testing::pretend_uring_lacks_opcodes_from() hides taken out.
uring_support probe_uring_support();

namespace testing {
/// Tests: from now on, the io_uring probe reports every opcode numbered `first_missing` or higher as
/// missing, as on an older kernel (40: Linux 5.15, 45: 5.18, 47: 5.19); 0 restores the real probe.
/// Takes effect for backends made after the call.
void pretend_uring_lacks_opcodes_from(unsigned first_missing) noexcept;
/// Tests: the next `count` system calls into the ring made by the calling thread fail with
/// `error` without reaching the kernel.
void fail_enters_on_this_thread(int error, unsigned count) noexcept;
/// Tests: while set, cancel requests never reach the kernel on any ring (as if it held on to
/// every op it was asked to cancel), so shutdown's deadline is what ends its wait.
void withhold_cancels(bool withhold) noexcept;
}  // namespace testing

class backend {
 public:
  virtual ~backend() = default;

  /// Enables the ring for the calling thread (single-issuer rings bind to one thread).
  virtual void attach_to_current_thread() = 0;
  /// Queues `op` for submission; it is handed to the kernel at the next wait(). With
  /// `op.awaiting_readiness` the request is a poll for the readiness the op waits for (-EAGAIN);
  /// with `op.deadline` a linked timeout goes with it, which takes one more reference on
  /// `op.pending` and completes through on_deadline().
  virtual void submit(io_op& op) noexcept = 0;
  /// Asks the kernel to cancel an op that was submitted.
  virtual void cancel(io_op& op) noexcept = 0;
  /// Asks the kernel to cancel every op in flight.
  virtual void cancel_all() noexcept = 0;
  /// Submits what is queued, then waits for a completion, a wake() or the timeout (nullopt: no
  /// limit; zero: do not block), and hands at most completions_per_wait completions to `sink`
  /// (the rest stay for the next wait: completions_pending() says so). Returns how many it handed.
  virtual std::size_t wait(completion_sink& sink,
                           std::optional<std::chrono::nanoseconds> timeout) noexcept = 0;
  /// Hands queued requests to the kernel now, without waiting or reaping (before the loop spins:
  /// requests must not sit in the queue while it does).
  virtual void flush() noexcept = 0;
  /// Whether completions are waiting to be reaped (a cheap look at the ring, no system call).
  virtual bool completions_pending() const noexcept = 0;
  /// The errno of a failed system call into the kernel that the loop has not reported yet (0:
  /// none); a run of failures is reported once. The requests that call was to submit complete
  /// with that error at the next wait().
  virtual int take_failure_report() noexcept = 0;
  /// Makes a wait() in progress (or the next one) return. Any thread.
  virtual void wake() noexcept = 0;
  /// For a host that sleeps in its own poll(2)/epoll: a descriptor that becomes readable when
  /// this backend has completions to hand over (made on the first call, on the owning thread), or
  /// -errno. clear_readiness() resets it; the next completion makes it readable again.
  virtual int readiness_fd() noexcept = 0;
  virtual void clear_readiness() noexcept = 0;
  /// Registers the ring's provided-buffer ring (`count`, a power of two, buffers of `size` bytes)
  /// that recv_multishot ops receive into. Returns 0 or -errno. Once per backend.
  virtual int provide_buffers(unsigned count, unsigned size) noexcept = 0;
  /// The memory of provided buffer `id`.
  virtual std::byte* buffer_data(std::int32_t id) noexcept = 0;
  /// Gives buffer `id` back to the kernel (it was handed out by a completion).
  virtual void recycle_buffer(std::int32_t id) noexcept = 0;
  /// Creates the ring's registered-file table with `slots` empty slots. Returns 0 or -errno.
  virtual int enable_registered_files(unsigned slots) noexcept = 0;
  /// Empties a slot of the registered-file table (asynchronously, through the ring).
  virtual void close_registered_file(int slot) noexcept = 0;
  /// Ops handed to the kernel whose last completion has not been reaped yet.
  virtual std::size_t in_flight() const noexcept = 0;
  virtual backend_counters counters() const noexcept = 0;
  /// Human-readable description of the ring setup chosen (flags that the kernel accepted).
  virtual const char* describe() const noexcept = 0;
};

/// Creates the io_uring backend. Throws std::system_error when io_uring is unavailable or the ring
/// cannot be created.
std::unique_ptr<backend> make_uring_backend(unsigned entries);

}  // namespace coring::detail
