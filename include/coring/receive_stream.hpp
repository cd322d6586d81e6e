// SPDX-License-Identifier: MIT
// coring::receive_stream: what a connected socket receives, as a stream of received_chunks, from
// one multishot receive request into the event loop's provided-buffer ring.
//
//   auto chunks = stream.receive_chunks();
//   for (;;) {
//     auto chunk = co_await chunks.next();
//     if (!chunk || chunk->empty()) break;   // error, or the peer closed
//     consume(chunk->bytes());                // the buffer returns to the ring with the chunk
//   }
//
// One request stays armed in the kernel (IORING_OP_RECV with IORING_RECV_MULTISHOT and buffer
// selection) and posts a completion per received chunk: no submission and no buffer per read.
// Chunks that arrive before next() is awaited wait in a queue. When the loop's buffers are all
// held by chunks, the request pauses and re-arms as soon as one comes back (the data waits in the
// socket). After the end (an empty chunk) or an error, next() keeps giving that result.
// The end is a value, not an error: a loop `while (auto chunk = co_await chunks.next())` must also
// stop at an empty chunk (as above), or it spins at the end of the stream.
//
// Lifetime and threads: bound to the io loop of the thread that made it; awaiting next() from
// any task of the runtime resumes that task on its own pool. One task awaits next() at a time.
// Destroy the receive_stream before closing the socket (the kernel request holds the socket
// open until it is canceled); destroying it cancels the request and returns queued buffers.
#pragma once

#include <utility>

#include "coring/detail/multishot.hpp"
#include "coring/received_chunk.hpp"
#include "coring/result.hpp"

namespace coring {

namespace detail {

struct next_chunk_awaitable : take_awaitable {
  using take_awaitable::take_awaitable;
  result<received_chunk> await_resume() noexcept {
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    if (buffer() < 0) return received_chunk{};  // end of stream
    return received_chunk{op.loop, buffer(), static_cast<std::size_t>(r)};
  }
};

}  // namespace detail

class receive_stream {
 public:
  receive_stream() noexcept = default;
  /// Receives from `socket_fd` (not owned; must stay open while this exists).
  explicit receive_stream(int socket_fd) : receive_stream(detail::io_target{socket_fd}) {}
  /// Receives from a descriptor or a registered-file slot (tcp_stream::receive_chunks()).
  explicit receive_stream(detail::io_target target)
      : source_(detail::open_multishot(detail::op_code::recv_multishot, target)) {}
  receive_stream(receive_stream&& other) noexcept : source_(std::exchange(other.source_, nullptr)) {}
  receive_stream& operator=(receive_stream&& other) noexcept {
    if (this != &other) {
      detail::close_multishot(source_);
      source_ = std::exchange(other.source_, nullptr);
    }
    return *this;
  }
  ~receive_stream() { detail::close_multishot(source_); }

  /// The next chunk: bytes, an empty chunk at the end of the stream, or the error.
  [[nodiscard]] detail::next_chunk_awaitable next() noexcept { return detail::next_chunk_awaitable{source_}; }

 private:
  detail::multishot* source_ = nullptr;
};

}  // namespace coring
