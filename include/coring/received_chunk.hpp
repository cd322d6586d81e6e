// SPDX-License-Identifier: MIT
// coring::received_chunk: bytes a receive_stream got from the kernel, in a buffer the kernel
// picked from the event loop's provided-buffer ring.
//
// Move-only. The buffer goes back to the ring when the chunk is destroyed or release()d, from any
// thread (a return from another thread is posted to the loop). Keep chunks short-lived: while
// every buffer of a loop is held, its receive streams wait. Destroy chunks before the runtime.
// An empty chunk means the peer closed its side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "coring/detail/multishot.hpp"

namespace coring {

class received_chunk {
 public:
  received_chunk() noexcept = default;
  received_chunk(detail::event_loop_impl* loop, std::int32_t buffer, std::size_t size) noexcept
      : loop_(loop), buffer_(buffer), size_(size) {}
  received_chunk(received_chunk&& other) noexcept
      : loop_(other.loop_), buffer_(std::exchange(other.buffer_, -1)), size_(std::exchange(other.size_, 0)) {}
  received_chunk& operator=(received_chunk&& other) noexcept {
    if (this != &other) {
      release();
      loop_ = other.loop_;
      buffer_ = std::exchange(other.buffer_, -1);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~received_chunk() { release(); }

  std::span<const std::byte> bytes() const noexcept { return {data(), size_}; }
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data()), size_}; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Gives the buffer back now; the chunk becomes empty.
  void release() noexcept {
    if (buffer_ >= 0) detail::return_provided_buffer(loop_, std::exchange(buffer_, -1));
    size_ = 0;
  }

 private:
  const std::byte* data() const noexcept {
    return buffer_ >= 0 ? detail::provided_buffer(loop_, buffer_) : nullptr;
  }

  detail::event_loop_impl* loop_ = nullptr;
  std::int32_t buffer_ = -1;
  std::size_t size_ = 0;
};

}  // namespace coring
