// SPDX-License-Identifier: MIT
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "coring/net/unix_listener.hpp"
#include "coring/net/unix_stream.hpp"

namespace coring::net {

result<socklen_t> detail::make_unix_address(const std::string& path, sockaddr_un& address) noexcept {
  if (path.empty()) return std::errc::invalid_argument;
  if (path.find('\0') != std::string::npos) return std::errc::invalid_argument;  // not a shorter path
  if (path.size() >= sizeof address.sun_path) return std::errc::filename_too_long;
  address = sockaddr_un{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

// ---- unix_stream -----------------------------------------------------------------------------

detail::unix_connect_awaitable::unix_connect_awaitable(const std::string& path) noexcept {
  const result<socklen_t> len = make_unix_address(path, address);
  if (!len) {
    setup_error = len.error().value();
    return;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    setup_error = errno;
    return;
  }
  op.code = coring::detail::op_code::connect;
  op.fd = fd;
  op.args.connect = {reinterpret_cast<const sockaddr*>(&address), *len};
}

result<unix_stream> detail::unix_connect_awaitable::await_resume() noexcept {
  if (setup_error != 0) return std::error_code(setup_error, std::system_category());
  const int r = finish();
  unix_stream stream{op.fd};  // owns the socket from here: closed on failure
  if (r < 0) return coring::error_from_errno(r);
  return stream;
}

// ---- unix_listener ---------------------------------------------------------------------------

detail::unix_accept_awaitable::unix_accept_awaitable(int fd) noexcept {
  op.code = coring::detail::op_code::accept;
  op.fd = fd;
  op.args.accept = {nullptr, nullptr, SOCK_CLOEXEC};  // a Unix peer is usually unnamed
}

result<unix_stream> detail::unix_accept_awaitable::await_resume() noexcept {
  const int r = finish();
  if (r < 0) return coring::error_from_errno(r);
  return unix_stream{r};
}

result<unix_listener> unix_listener::bind(std::string path, int backlog) noexcept {
  sockaddr_un address{};
  const result<socklen_t> len = detail::make_unix_address(path, address);
  if (!len) return len.error();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::error_code(errno, std::system_category());
  unix_listener listener{fd};  // closes the socket if bind or listen fails
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), *len) != 0 || ::listen(fd, backlog) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return listener;
}

}  // namespace coring::net
