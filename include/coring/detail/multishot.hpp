// SPDX-License-Identifier: MIT
// A multishot ring request (accept or receive) and the task-side awaitable that takes its
// completions one at a time.
//
// The kernel keeps one request armed and posts a completion per accepted socket / received chunk;
// the loop queues completions nobody waits for yet and hands the next one to a waiting `take`.
// A multishot lives on the heap, not in a frame: its handle (incoming_connections,
// receive_stream) may go away while the kernel still holds the request, so closing it only asks
// the loop to cancel, and the loop frees it after the last completion (closing accepted sockets
// and returning buffers nobody took).
//
// Threads: created on any thread of a runtime (it binds to that thread's io loop, or the pool's);
// from then on its state belongs to that loop's thread. One task takes from it at a time.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "coring/detail/io_op.hpp"

namespace coring::detail {

struct multishot_close_item : work_item {};

struct multishot : io_op, multishot_close_item {
  struct entry {
    int result;
    std::int32_t buffer;  // ring-provided buffer id, or -1
  };

  std::deque<entry> ready;  // completions nobody took yet
  io_op* taker = nullptr;   // the take waiting for the next completion
  bool armed = false;       // the kernel holds the request
  bool ended = false;       // the stream is over (receive: end of stream or an error)
  bool starved = false;     // receive: the buffer ring ran dry; re-armed when a buffer returns
  bool closed = false;      // the handle is gone: freed after the last completion
  int end_result = 0;
};

/// A multishot of `code` (accept_multishot or recv_multishot) on `fd`, bound to the calling
/// thread's io loop (or its pool's). Outside any runtime it is bound to nothing and every take
/// gives -ENOTSUP.
multishot* open_multishot(op_code code, io_target target);
/// Gives the multishot up (any thread): queued completions are discarded (accepted sockets closed,
/// buffers returned), the kernel request is canceled, and the loop frees it when done.
void close_multishot(multishot* m) noexcept;
/// On the loop's own thread with a completion queued: moves it into `take` (result, and the buffer
/// id in `take.args.take.buffer`, or -1) and returns true.
bool take_queued(multishot& m, io_op& take) noexcept;

/// The memory of provided buffer `id` of `loop` (a receive completion's buffer).
const std::byte* provided_buffer(event_loop_impl* loop, std::int32_t id) noexcept;
/// Gives provided buffer `id` back to `loop`'s ring (any thread).
void return_provided_buffer(event_loop_impl* loop, std::int32_t id) noexcept;

/// co_await of the next completion; derived types turn op.result / buffer() into a value.
struct take_awaitable {
  io_op op;

  explicit take_awaitable(multishot* source) noexcept {
    op.code = op_code::take_next;
    op.args.take = {source, -1};
    if (source == nullptr) {
      op.result = -EBADF;  // an empty (moved-from) handle
    } else {
      op.loop = source->loop;
      if (op.loop == nullptr) op.result = -ENOTSUP;  // made outside any runtime
    }
  }
  bool await_ready() noexcept {
    // Out of budget: go through the loop, which hands the queued completion over from its ready
    // queue (the task yields).
    return op.loop == nullptr || (coop_spend() && take_queued(*op.args.take.source, op));
  }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    return start_op(op, awaiting, root_of(awaiting));
  }
  int finish() noexcept {
    op.forget_scope();
    return op.result;
  }
  std::int32_t buffer() const noexcept { return op.args.take.buffer; }
};

}  // namespace coring::detail
