// SPDX-License-Identifier: MIT
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "coring/net/udp_socket.hpp"

namespace coring::net {

detail::send_to_awaitable::send_to_awaitable(int fd, std::span<const std::byte> data,
                                             const endpoint& to) noexcept
    : destination(to) {
  vec.iov_base = const_cast<std::byte*>(data.data());
  vec.iov_len = data.size();
  message.msg_name = destination.data();
  message.msg_namelen = destination.size();
  message.msg_iov = &vec;
  message.msg_iovlen = 1;
  op.code = coring::detail::op_code::sendmsg;
  op.fd = fd;
  op.args.message = {&message, MSG_NOSIGNAL};
}

result<std::size_t> detail::send_to_awaitable::await_resume() noexcept {
  const int r = finish();
  if (r < 0) return coring::error_from_errno(r);
  return static_cast<std::size_t>(r);
}

detail::receive_from_awaitable::receive_from_awaitable(int fd, std::span<std::byte> buffer) noexcept {
  vec.iov_base = buffer.data();
  vec.iov_len = buffer.size();
  message.msg_name = source.data();
  message.msg_namelen = endpoint::capacity();
  message.msg_iov = &vec;
  message.msg_iovlen = 1;
  op.code = coring::detail::op_code::recvmsg;
  op.fd = fd;
  op.args.message = {&message, 0};
}

result<received> detail::receive_from_awaitable::await_resume() noexcept {
  const int r = finish();
  if (r < 0) return coring::error_from_errno(r);
  result<endpoint> from = endpoint::from_sockaddr(source.data(), message.msg_namelen);
  if (!from) return from.error();
  return received{static_cast<std::size_t>(r), *from};
}

result<udp_socket> udp_socket::bind(const endpoint& local) noexcept {
  const int fd = ::socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return std::error_code(errno, std::system_category());
  udp_socket socket{fd};  // closes the descriptor if bind fails
  if (::bind(fd, local.data(), local.size()) != 0) return std::error_code(errno, std::system_category());
  return socket;
}

result<void> udp_socket::connect(const endpoint& peer) const noexcept {
  if (::connect(fd_.get(), peer.data(), peer.size()) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return {};
}

result<endpoint> udp_socket::local_endpoint() const noexcept {
  if (fd_.get() < 0) return coring::error_from_errno(-EBADF);
  endpoint ep;
  socklen_t len = endpoint::capacity();
  if (::getsockname(fd_.get(), ep.data(), &len) != 0) return std::error_code(errno, std::system_category());
  return endpoint::from_sockaddr(ep.data(), len);
}

}  // namespace coring::net
