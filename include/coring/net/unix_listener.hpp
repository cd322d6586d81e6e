// SPDX-License-Identifier: MIT
// coring::net::unix_listener: a listening Unix domain stream socket; accept() goes through the ring.
//
// bind(path) creates, binds and listens at once, synchronously, and reports failures as its result
// (a path that exists: errc::address_in_use; one longer than sockaddr_un::sun_path holds:
// errc::filename_too_long). The socket file is not removed when the listener is destroyed: unlink
// it when done. accept() gives a connected unix_stream. Move-only; one task accepts at a time.
// Destroying the listener closes it.
#pragma once

#include <string>

#include "coring/detail/io_op.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/net/unix_stream.hpp"
#include "coring/result.hpp"

namespace coring::net {

namespace detail {

struct unix_accept_awaitable : coring::detail::op_awaitable {
  explicit unix_accept_awaitable(int fd) noexcept;
  result<unix_stream> await_resume() noexcept;
};

}  // namespace detail

class unix_listener {
 public:
  unix_listener() noexcept = default;

  /// Listens at `path` (which must not exist yet).
  static result<unix_listener> bind(std::string path, int backlog = 1024) noexcept;

  [[nodiscard]] detail::unix_accept_awaitable accept() const noexcept {
    return detail::unix_accept_awaitable{fd_.get()};
  }

  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }

 private:
  explicit unix_listener(int fd) noexcept : fd_(fd) {}

  coring::detail::unique_fd fd_;
};

}  // namespace coring::net
