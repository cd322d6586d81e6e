// SPDX-License-Identifier: MIT
// coring::net::incoming_connections: the connections a tcp_listener accepts, from one multishot
// accept request.
//
//   auto incoming = listener.incoming();
//   while (auto stream = co_await incoming.next()) spawn(rt.io(), serve(std::move(*stream)));
//
// One request stays armed in the kernel (IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT) and posts
// a completion per accepted connection: no submission per accept. Connections accepted before
// next() is awaited wait in a queue. An error (EMFILE, a closed listener, ...) is the result of
// one next(); the following next() asks the kernel again.
//
// Lifetime and threads: bound to the io loop of the thread that called incoming() (a CPU-pool
// task gets one of the io pool's loops); awaiting next() from any task of the runtime resumes that
// task on its own pool. One task awaits next() at a time. Destroying it cancels the request
// and closes connections accepted but not taken; the listener must outlive it.
#pragma once

#include <utility>

#include "coring/detail/multishot.hpp"
#include "coring/net/tcp_stream.hpp"
#include "coring/result.hpp"

namespace coring::net {

namespace detail {

struct next_connection_awaitable : coring::detail::take_awaitable {
  using take_awaitable::take_awaitable;
  result<tcp_stream> await_resume() noexcept {
    const int r = finish();
    if (r < 0) return coring::error_from_errno(r);
    return tcp_stream{r};
  }
};

}  // namespace detail

class incoming_connections {
 public:
  incoming_connections() noexcept = default;
  /// Accepts on `listener_fd` (not owned). Prefer tcp_listener::incoming().
  explicit incoming_connections(int listener_fd)
      : source_(coring::detail::open_multishot(coring::detail::op_code::accept_multishot,
                                               coring::detail::io_target{listener_fd})) {}
  incoming_connections(incoming_connections&& other) noexcept
      : source_(std::exchange(other.source_, nullptr)) {}
  incoming_connections& operator=(incoming_connections&& other) noexcept {
    if (this != &other) {
      coring::detail::close_multishot(source_);
      source_ = std::exchange(other.source_, nullptr);
    }
    return *this;
  }
  ~incoming_connections() { coring::detail::close_multishot(source_); }

  /// The next accepted connection (errc::bad_file_descriptor on an empty handle).
  [[nodiscard]] detail::next_connection_awaitable next() noexcept {
    return detail::next_connection_awaitable{source_};
  }

 private:
  coring::detail::multishot* source_ = nullptr;
};

}  // namespace coring::net
