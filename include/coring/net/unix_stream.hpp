// SPDX-License-Identifier: MIT
// coring::net::unix_stream: a connected Unix domain stream socket (AF_UNIX, SOCK_STREAM) whose
// connect, reads and writes go through the ring.
//
// connect(path) gives a connected stream (a missing path: errc::no_such_file_or_directory; nobody
// listening there: errc::connection_refused; a path longer than sockaddr_un::sun_path holds:
// errc::filename_too_long). read() returns the bytes received (0: the peer closed its side);
// write() the bytes sent (possibly fewer than given), never raising SIGPIPE. Works the same from
// io-pool and CPU-pool tasks; the task resumes on the pool it awaited from. write_all() loops over
// short writes, of bytes or of text (a std::string_view, a std::span<const char>). Buffers must
// stay alive until the co_await returns. Move-only; destroying an open stream closes it
// synchronously. One task uses a stream at a time (one reader and one writer may overlap).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <span>
#include <string>

#include "coring/detail/io_op.hpp"
#include "coring/detail/text_bytes.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/detail/fd_transfer.hpp"
#include "coring/result.hpp"
#include "coring/stream_concepts.hpp"
#include "coring/task.hpp"

namespace coring::net {

class unix_stream;

namespace detail {

/// Fills `address` for `path`; errc::filename_too_long when the path (and its terminating NUL)
/// does not fit sun_path, errc::invalid_argument for an empty path or one with a NUL in it.
result<socklen_t> make_unix_address(const std::string& path, sockaddr_un& address) noexcept;

struct unix_connect_awaitable : coring::detail::op_awaitable {
  sockaddr_un address{};
  int setup_error = 0;  // the path did not fit, or socket() failed: no connect was started

  explicit unix_connect_awaitable(const std::string& path) noexcept;
  unix_connect_awaitable(const unix_connect_awaitable&) = delete;
  unix_connect_awaitable& operator=(const unix_connect_awaitable&) = delete;
  bool await_ready() const noexcept { return setup_error != 0; }
  result<unix_stream> await_resume() noexcept;
};

}  // namespace detail

class unix_stream {
 public:
  unix_stream() noexcept = default;
  /// Adopts a connected AF_UNIX stream socket.
  explicit unix_stream(int fd) noexcept : fd_(fd) {}

  /// Connects to the listener bound at `path`.
  [[nodiscard]] static detail::unix_connect_awaitable connect(const std::string& path) noexcept {
    return detail::unix_connect_awaitable{path};
  }

  [[nodiscard]] coring::detail::transfer_awaitable read(std::span<std::byte> buffer) const noexcept {
    return {coring::detail::op_code::recv, fd_.get(), buffer.data(), buffer.size(), 0};
  }
  [[nodiscard]] coring::detail::transfer_awaitable read(std::span<char> buffer) const noexcept {
    return {coring::detail::op_code::recv, fd_.get(), buffer.data(), buffer.size(), 0};
  }
  [[nodiscard]] coring::detail::transfer_awaitable write(std::span<const std::byte> buffer) const noexcept {
    return {coring::detail::op_code::send,
            fd_.get(),
            const_cast<std::byte*>(buffer.data()),
            buffer.size(),
            0,
            MSG_NOSIGNAL};
  }
  [[nodiscard]] coring::detail::transfer_awaitable write(std::span<const char> buffer) const noexcept {
    return {coring::detail::op_code::send,
            fd_.get(),
            const_cast<char*>(buffer.data()),
            buffer.size(),
            0,
            MSG_NOSIGNAL};
  }

  /// Writes all of `buffer`, looping over short writes (coring::write_all). The stream and the
  /// bytes must outlive the task.
  [[nodiscard]] task<result<void>> write_all(std::span<const std::byte> buffer) const {
    return coring::write_all(*this, buffer);
  }
  /// Writes all of a text: what converts to a std::string_view (a std::string, a literal without
  /// its NUL), else to a std::span<const char> (a std::vector<char>, a std::span<char>).
  template <coring::detail::text_like Text>
  [[nodiscard]] task<result<void>> write_all(const Text& text) const {
    return coring::write_all(*this, coring::detail::text_bytes(text));
  }

  /// Closes through the ring; the stream is closed as soon as this is called.
  [[nodiscard]] coring::detail::close_awaitable close() noexcept {
    return coring::detail::close_awaitable{fd_.release()};
  }

  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }
  int release() noexcept { return fd_.release_to_caller(); }

 private:
  coring::detail::unique_fd fd_;
};

}  // namespace coring::net
