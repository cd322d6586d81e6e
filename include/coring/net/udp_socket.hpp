// SPDX-License-Identifier: MIT
// coring::net::udp_socket: a UDP socket whose datagram sends and receives go through the ring.
//
// bind() creates and binds the socket synchronously (port 0 picks a free port: see
// local_endpoint()). send_to()/receive_from() work on any bound socket; after connect() (a
// synchronous connect(2) that only fixes the peer) send()/receive() need no address. Results come
// as coring::result: the bytes sent, or the bytes received with the sender's address. A datagram
// larger than the buffer is truncated to it (the rest is dropped, as recvmsg(2) does). Errors are
// the kernel's error codes (a default-constructed socket gives errc::bad_file_descriptor); sends
// never raise SIGPIPE. Works the same from io-pool and CPU-pool tasks; the task resumes on the pool
// it awaited from. Buffers must stay alive until the co_await returns; the awaitables hold the
// msghdr and address themselves, so they are used in place (`co_await s.send_to(...)`), never
// moved. Move-only; destroying an open socket closes it synchronously.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>

#include "coring/detail/io_op.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/detail/fd_transfer.hpp"
#include "coring/net/endpoint.hpp"
#include "coring/result.hpp"

namespace coring::net {

/// One datagram received by udp_socket::receive_from().
struct received {
  std::size_t size = 0;  // bytes written to the buffer
  endpoint from;         // the sender
};

namespace detail {

/// sendmsg with the destination address, msghdr and iovec stored in the awaitable.
struct send_to_awaitable : coring::detail::op_awaitable {
  endpoint destination;
  iovec vec{};
  msghdr message{};

  send_to_awaitable(int fd, std::span<const std::byte> data, const endpoint& to) noexcept;
  send_to_awaitable(const send_to_awaitable&) = delete;
  send_to_awaitable& operator=(const send_to_awaitable&) = delete;
  result<std::size_t> await_resume() noexcept;
};

/// recvmsg with the msghdr, iovec and sender address buffer stored in the awaitable.
struct receive_from_awaitable : coring::detail::op_awaitable {
  endpoint source;  // endpoint::capacity() bytes for the kernel to fill in
  iovec vec{};
  msghdr message{};

  receive_from_awaitable(int fd, std::span<std::byte> buffer) noexcept;
  receive_from_awaitable(const receive_from_awaitable&) = delete;
  receive_from_awaitable& operator=(const receive_from_awaitable&) = delete;
  result<received> await_resume() noexcept;
};

}  // namespace detail

class udp_socket {
 public:
  udp_socket() noexcept = default;
  /// Adopts a datagram socket.
  explicit udp_socket(int fd) noexcept : fd_(fd) {}

  /// Creates a UDP socket of `local`'s family and binds it there.
  static result<udp_socket> bind(const endpoint& local) noexcept;

  /// Sends one datagram to `destination`; gives the bytes sent.
  [[nodiscard]] detail::send_to_awaitable send_to(std::span<const std::byte> data,
                                                  const endpoint& destination) const noexcept {
    return detail::send_to_awaitable{fd_.get(), data, destination};
  }
  /// Receives one datagram into `buffer`; gives its size and the sender.
  [[nodiscard]] detail::receive_from_awaitable receive_from(std::span<std::byte> buffer) const noexcept {
    return detail::receive_from_awaitable{fd_.get(), buffer};
  }

  /// connect(2): fixes the peer for send()/receive() and filters datagrams from anyone else.
  result<void> connect(const endpoint& peer) const noexcept;

  /// Sends one datagram to the connected peer (errc::destination_address_required if none).
  [[nodiscard]] coring::detail::transfer_awaitable send(std::span<const std::byte> data) const noexcept {
    return {coring::detail::op_code::send,
            fd_.get(),
            const_cast<std::byte*>(data.data()),
            data.size(),
            0,
            MSG_NOSIGNAL};
  }
  /// Receives one datagram from the connected peer.
  [[nodiscard]] coring::detail::transfer_awaitable receive(std::span<std::byte> buffer) const noexcept {
    return {coring::detail::op_code::recv, fd_.get(), buffer.data(), buffer.size(), 0};
  }

  /// Closes through the ring; the socket is closed as soon as this is called.
  [[nodiscard]] coring::detail::close_awaitable close() noexcept {
    return coring::detail::close_awaitable{fd_.release()};
  }

  /// The bound address (errc::bad_file_descriptor when closed).
  result<endpoint> local_endpoint() const noexcept;

  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }
  int release() noexcept { return fd_.release_to_caller(); }

 private:
  coring::detail::unique_fd fd_;
};

}  // namespace coring::net
