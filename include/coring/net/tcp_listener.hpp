// SPDX-License-Identifier: MIT
// coring::net::tcp_listener: a listening TCP socket; accept() goes through the ring.
//
// bind() creates, binds (with SO_REUSEADDR) and listens at once, synchronously: it is called
// once at start-up and reports failures (address in use, bad address) as its result. accept()
// gives a connected tcp_stream. Move-only; one task accepts at a time. Destroying the listener
// closes it.
#pragma once

#include <utility>

#include "coring/detail/io_op.hpp"
#include "coring/net/endpoint.hpp"
#include "coring/net/incoming_connections.hpp"
#include "coring/net/tcp_stream.hpp"
#include "coring/result.hpp"

namespace coring::net {

namespace detail {

struct accept_awaitable : coring::detail::op_awaitable {
  socklen_t peer_len = endpoint::capacity();
  endpoint peer;

  explicit accept_awaitable(int fd) noexcept;
  result<tcp_stream> await_resume() noexcept;
};

}  // namespace detail

struct listen_options {
  int backlog = 1024;
  /// SO_REUSEPORT: several listeners (one per io loop) may share the port.
  bool reuse_port = false;
  /// TCP_NODELAY on every accepted socket (Nagle's algorithm off: small writes go out at once).
  /// Set once on the listening socket, which Linux copies into each socket it accepts, from
  /// accept() and incoming() alike: no system call per connection.
  bool no_delay = false;
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;

  /// Listens on `local` (port 0 picks a free port: see local_endpoint()).
  static result<tcp_listener> bind(const endpoint& local, listen_options options = {}) noexcept;

  [[nodiscard]] detail::accept_awaitable accept() const noexcept {
    return detail::accept_awaitable{fd_.get()};
  }

  /// Every connection from now on, from one multishot accept request (see incoming_connections).
  [[nodiscard]] incoming_connections incoming() const { return incoming_connections{fd_.get()}; }
  result<endpoint> local_endpoint() const noexcept;
  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }

 private:
  explicit tcp_listener(int fd) noexcept : fd_(fd) {}

  coring::detail::unique_fd fd_;
};

}  // namespace coring::net
