// SPDX-License-Identifier: MIT
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "coring/net/tcp_listener.hpp"
#include "coring/net/tcp_stream.hpp"

namespace coring::net {

namespace {

result<endpoint> socket_name(int fd, bool peer) noexcept {
  if (fd < 0) return coring::error_from_errno(-EBADF);
  endpoint ep;
  socklen_t len = endpoint::capacity();
  const int rc = peer ? ::getpeername(fd, ep.data(), &len) : ::getsockname(fd, ep.data(), &len);
  if (rc != 0) return std::error_code(errno, std::system_category());
  return endpoint::from_sockaddr(ep.data(), len);
}

}  // namespace

// ---- tcp_stream ------------------------------------------------------------------------------

detail::connect_awaitable::connect_awaitable(const endpoint& ep) noexcept : peer(ep) {
  const int fd = ::socket(peer.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    socket_error = errno;
    return;
  }
  op.code = coring::detail::op_code::connect;
  op.fd = fd;
  op.args.connect = {peer.data(), peer.size()};
}

result<tcp_stream> detail::connect_awaitable::await_resume() noexcept {
  if (socket_error != 0) return std::error_code(socket_error, std::system_category());
  const int r = finish();
  tcp_stream stream{op.fd};  // owns the socket from here: closed on failure
  if (r < 0) return coring::error_from_errno(r);
  return stream;
}

detail::register_awaitable::register_awaitable(tcp_stream& s) noexcept : stream(&s), descriptor(s.fd_.get()) {
  if (descriptor < 0) {
    op.result = -EBADF;
  } else if (s.slot_ >= 0) {
    op.result = 1;  // already registered
  } else {
    op.code = coring::detail::op_code::register_file;
    op.args.registration = {&descriptor};
  }
}

result<void> detail::register_awaitable::await_resume() noexcept {
  if (descriptor < 0) return coring::error_from_errno(-EBADF);
  if (stream->slot_ >= 0) return {};
  const int r = finish();
  if (r < 0) return coring::error_from_errno(r);
  if (r != 1) return coring::error_from_errno(-EIO);
  stream->slot_ = descriptor;  // the kernel wrote the slot it picked over the descriptor
  stream->slot_loop_ = op.loop;
  return {};
}

result<endpoint> tcp_stream::peer_endpoint() const noexcept {
  return socket_name(fd_.get(), true);
}
result<endpoint> tcp_stream::local_endpoint() const noexcept {
  return socket_name(fd_.get(), false);
}

result<void> tcp_stream::shutdown(int how) const noexcept {
  if (::shutdown(fd_.get(), how) != 0) return std::error_code(errno, std::system_category());
  return {};
}

result<void> tcp_stream::set_nodelay(bool enabled) const noexcept {
  const int value = enabled ? 1 : 0;
  if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return {};
}

// ---- tcp_listener ----------------------------------------------------------------------------

detail::accept_awaitable::accept_awaitable(int fd) noexcept {
  op.code = coring::detail::op_code::accept;
  op.fd = fd;
  op.args.accept = {peer.data(), &peer_len, SOCK_CLOEXEC};
}

result<tcp_stream> detail::accept_awaitable::await_resume() noexcept {
  const int r = finish();
  if (r < 0) return coring::error_from_errno(r);
  return tcp_stream{r};
}

result<tcp_listener> tcp_listener::bind(const endpoint& local, listen_options options) noexcept {
  const int fd = ::socket(local.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return std::error_code(errno, std::system_category());
  tcp_listener listener{fd};
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      (options.no_delay && ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) ||
      ::bind(fd, local.data(), local.size()) != 0 || ::listen(fd, options.backlog) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return listener;
}

result<endpoint> tcp_listener::local_endpoint() const noexcept {
  return socket_name(fd_.get(), false);
}

}  // namespace coring::net
