// SPDX-License-Identifier: MIT
// coring::wait_readable(fd) / wait_writable(fd): wait, through the ring, until a descriptor that
// coring does not own is ready — to drive any library that exposes one (a database client, a
// pipe, a signalfd, an eventfd).
//
//   auto ready = co_await coring::wait_readable(client.socket());
//   if (!ready) ... ready.error();     // e.g. errc::bad_file_descriptor, errc::operation_canceled
//
// One-shot poll (level-triggered): completes at once if the descriptor is ready already. The
// result holds the poll events the kernel reported (POLLIN, POLLOUT, POLLHUP, POLLERR...). The
// task resumes on the pool it awaited from; a stop request completes it with operation_canceled.
// The descriptor stays owned by the caller and must stay open until the co_await returns.
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstdint>

#include "coring/detail/io_op.hpp"
#include "coring/result.hpp"

namespace coring {

namespace detail {

struct poll_awaitable : op_awaitable {
  poll_awaitable(int fd, std::uint32_t events) noexcept {
    op.code = op_code::poll;
    op.fd = fd;
    op.args.poll = {events};
  }
  bool await_ready() const noexcept { return op.fd < 0; }
  result<unsigned> await_resume() noexcept {
    if (op.fd < 0) return error_from_errno(-EBADF);
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return static_cast<unsigned>(r);
  }
};

}  // namespace detail

/// Completes when `fd` is readable (POLLIN), or has hung up or failed.
[[nodiscard]] inline detail::poll_awaitable wait_readable(int fd) noexcept {
  return {fd, POLLIN};
}
/// Completes when `fd` is writable (POLLOUT), or has hung up or failed.
[[nodiscard]] inline detail::poll_awaitable wait_writable(int fd) noexcept {
  return {fd, POLLOUT};
}

}  // namespace coring
