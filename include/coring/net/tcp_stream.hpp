// SPDX-License-Identifier: MIT
// coring::net::tcp_stream: a connected TCP socket whose reads and writes go through the ring.
//
// Move-only owner of the socket. read() returns the bytes received (0: the peer closed its side);
// write() the bytes sent (possibly fewer than given). Errors arrive as error codes from the kernel
// (a closed stream gives errc::bad_file_descriptor; a write to a reset connection
// errc::broken_pipe or connection_reset, never SIGPIPE). Works the same from io-pool and CPU-pool
// tasks; the task resumes on the pool it awaited from. Buffers must stay alive until the co_await
// returns. Destroying an open stream closes it synchronously. One task uses a stream at a time
// (one reader and one writer may overlap). The vectored forms (std::span<const iovec>) scatter a
// read with recvmsg and gather a write with sendmsg (MSG_NOSIGNAL); their awaitables hold the
// msghdr, so they are used in place (`co_await s.write(vecs)`), never moved, and the iovec array
// must stay alive until the co_await returns. write_all copies the array when called; it also
// takes text (a std::string_view, a std::span<const char>).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <span>
#include <utility>

#include "coring/detail/fd_transfer.hpp"
#include "coring/detail/io_op.hpp"
#include "coring/detail/text_bytes.hpp"
#include "coring/net/endpoint.hpp"
#include "coring/receive_stream.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring::net {

class tcp_stream;

namespace detail {

struct connect_awaitable : coring::detail::op_awaitable {
  endpoint peer;
  int socket_error = 0;  // socket() failed before the connect could start

  explicit connect_awaitable(const endpoint& ep) noexcept;
  bool await_ready() const noexcept { return socket_error != 0; }
  result<tcp_stream> await_resume() noexcept;
};

/// sendmsg/recvmsg over the caller's iovec array (at most max_iovecs entries of it), with the
/// msghdr in the awaitable. No bytes to move on an open socket gives 0 at once: a recvmsg of 0
/// bytes would otherwise wait until the peer sends something.
struct message_awaitable : coring::detail::transfer_awaitable {
  msghdr message{};
  bool nothing_to_move = true;

  message_awaitable(coring::detail::op_code code, coring::detail::io_target target,
                    std::span<const iovec> buffers, std::uint32_t flags) noexcept
      : transfer_awaitable{code, target, &message, 0, 0, flags} {
    op.args.message = {&message, flags};  // the member sendmsg/recvmsg read (not transfer's)
    message.msg_iov = const_cast<iovec*>(buffers.data());
    message.msg_iovlen = std::min(buffers.size(), coring::detail::max_iovecs);
    for (std::size_t i = 0; i < message.msg_iovlen; ++i) {
      if (buffers[i].iov_len != 0) nothing_to_move = false;
    }
    if (target.fd < 0) nothing_to_move = false;  // the kernel reports the bad descriptor
  }
  message_awaitable(const message_awaitable&) = delete;
  message_awaitable& operator=(const message_awaitable&) = delete;

  bool await_ready() const noexcept { return nothing_to_move; }
  result<std::size_t> await_resume() noexcept {
    if (nothing_to_move) return std::size_t{0};
    return transfer_awaitable::await_resume();
  }
};

/// A gather write by sendmsg (MSG_NOSIGNAL) of an iovec array copied into the cursor.
struct message_plan {
  coring::detail::io_target target;
  coring::detail::iovec_cursor cursor;

  bool finished() const noexcept { return cursor.done(); }
  message_awaitable next() const noexcept {
    return {coring::detail::op_code::sendmsg, target, cursor.pending(), MSG_NOSIGNAL};
  }
  void advance(std::size_t n) noexcept { cursor.advance(n); }
};

/// Registers the stream's socket in the file table of the loop it runs on (IORING_OP_FILES_UPDATE
/// into a free slot).
struct register_awaitable : coring::detail::op_awaitable {
  tcp_stream* stream;
  int descriptor;
  explicit register_awaitable(tcp_stream& s) noexcept;
  bool await_ready() const noexcept { return descriptor < 0 || op.result != 0; }
  result<void> await_resume() noexcept;
};

}  // namespace detail

class tcp_stream {
 public:
  tcp_stream() noexcept = default;
  /// Adopts a connected socket.
  explicit tcp_stream(int fd) noexcept : fd_(fd) {}
  tcp_stream(tcp_stream&& other) noexcept
      : fd_(std::move(other.fd_)),
        slot_(std::exchange(other.slot_, -1)),
        slot_loop_(std::exchange(other.slot_loop_, nullptr)) {}
  tcp_stream& operator=(tcp_stream&& other) noexcept {
    if (this != &other) {
      unregister();
      fd_ = std::move(other.fd_);
      slot_ = std::exchange(other.slot_, -1);
      slot_loop_ = std::exchange(other.slot_loop_, nullptr);
    }
    return *this;
  }
  ~tcp_stream() { unregister(); }

  /// Registers the socket in the ring of the io loop this task runs on (or its pool's), for a
  /// long-lived connection: its operations then name a slot of the ring's file table
  /// (IOSQE_FIXED_FILE) instead of a descriptor the kernel looks up and reference-counts on every
  /// request. From then on every operation of the stream runs on that loop (a CPU-pool task
  /// still resumes on the CPU pool). Fails with the kernel's error when the table is full
  /// (errc::too_many_files_open_in_system) or io_uring lacks it; the stream works on unregistered.
  [[nodiscard]] detail::register_awaitable register_in_ring() noexcept {
    return detail::register_awaitable{*this};
  }
  bool is_registered() const noexcept { return slot_ >= 0; }

  /// Connects to `peer` (IPv4 or IPv6).
  [[nodiscard]] static detail::connect_awaitable connect(const endpoint& peer) noexcept {
    return detail::connect_awaitable{peer};
  }

  [[nodiscard]] coring::detail::transfer_awaitable read(std::span<std::byte> buffer) const noexcept {
    return {coring::detail::op_code::recv, target(), buffer.data(), buffer.size(), 0};
  }
  [[nodiscard]] coring::detail::transfer_awaitable read(std::span<char> buffer) const noexcept {
    return {coring::detail::op_code::recv, target(), buffer.data(), buffer.size(), 0};
  }
  [[nodiscard]] coring::detail::transfer_awaitable write(std::span<const std::byte> buffer) const noexcept {
    return send(const_cast<std::byte*>(buffer.data()), buffer.size());
  }
  [[nodiscard]] coring::detail::transfer_awaitable write(std::span<const char> buffer) const noexcept {
    return send(const_cast<char*>(buffer.data()), buffer.size());
  }

  /// Sends without copying `buffer` into the kernel (IORING_OP_SEND_ZC): the pages are handed to
  /// the network stack, and the await ends when the kernel says it no longer reads them. Pays off
  /// for large writes (tens of KiB and up) to a real network device; on loopback the kernel copies
  /// anyway and the extra notification makes it slower than write(). May be short, like write().
  [[nodiscard]] coring::detail::transfer_awaitable write_zero_copy(
      std::span<const std::byte> buffer) const noexcept {
    return {coring::detail::op_code::send_zc,
            target(),
            const_cast<std::byte*>(buffer.data()),
            buffer.size(),
            0,
            MSG_NOSIGNAL};
  }
  /// Scatter read (recvmsg): fills the buffers in order; gives the bytes received (0: the peer
  /// closed its side, or the buffers hold no byte: then it returns at once). May read less than
  /// asked; at most coring::detail::max_iovecs entries are used.
  [[nodiscard]] detail::message_awaitable read(std::span<const iovec> buffers) const noexcept {
    return {coring::detail::op_code::recvmsg, target(), buffers, 0};
  }
  /// Gather write (sendmsg with MSG_NOSIGNAL): sends the buffers in order; gives the bytes sent.
  /// May send less than asked; at most coring::detail::max_iovecs entries are used.
  [[nodiscard]] detail::message_awaitable write(std::span<const iovec> buffers) const noexcept {
    return {coring::detail::op_code::sendmsg, target(), buffers, MSG_NOSIGNAL};
  }

  /// Reads until `buffer` is full, looping over short reads. If the peer closes first, the error is
  /// errc::connection_aborted (the bytes that did arrive are in the buffer).
  [[nodiscard]] task<result<void>> read_exact(std::span<std::byte> buffer) const {
    return coring::detail::move_all<void>(
        coring::detail::buffer_plan{coring::detail::op_code::recv, target(), buffer.data(), buffer.size()},
        coring::detail::on_zero_bytes::fails_as_disconnected);
  }
  /// Writes all of `buffer`, looping over short writes.
  [[nodiscard]] task<result<void>> write_all(std::span<const std::byte> buffer) const {
    return send_all(buffer);
  }
  /// Writes all of a text: what converts to a std::string_view (a std::string, a literal without
  /// its NUL), else to a std::span<const char> (a std::vector<char>, a std::span<char>).
  template <coring::detail::text_like Text>
  [[nodiscard]] task<result<void>> write_all(const Text& text) const {
    return send_all(coring::detail::text_bytes(text));
  }
  /// What arrives from now on as chunks in ring-provided buffers, from one multishot receive
  /// (see receive_stream). Do not mix with read() while it exists.
  [[nodiscard]] receive_stream receive_chunks() const { return receive_stream{target()}; }
  /// Gather write of every buffer, in order, looping over short writes (and over any number of
  /// iovecs). The iovec array is copied here, at the call; the buffers must outlive the task.
  [[nodiscard]] task<result<void>> write_all(std::span<const iovec> buffers) const {
    return coring::detail::move_all<void>(
        detail::message_plan{target(), coring::detail::iovec_cursor{buffers}},
        coring::detail::on_zero_bytes::fails_as_io_error);
  }
  /// shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR (a peer's read then returns 0).
  result<void> shutdown(int how) const noexcept;
  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
  result<void> set_nodelay(bool enabled) const noexcept;

  /// Closes through the ring; the stream is closed as soon as this is called.
  [[nodiscard]] coring::detail::close_awaitable close() noexcept {
    unregister();
    return coring::detail::close_awaitable{fd_.release()};
  }

  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }
  int release() noexcept {
    unregister();
    return fd_.release_to_caller();
  }

  /// The address of the other end (errc::bad_file_descriptor when closed).
  result<endpoint> peer_endpoint() const noexcept;
  result<endpoint> local_endpoint() const noexcept;

 private:
  friend struct detail::register_awaitable;

  coring::detail::transfer_awaitable send(void* data, std::size_t size) const noexcept {
    return {coring::detail::op_code::send, target(), data, size, 0, MSG_NOSIGNAL};
  }
  task<result<void>> send_all(std::span<const std::byte> buffer) const {
    return coring::detail::move_all<void>(
        coring::detail::buffer_plan{coring::detail::op_code::send, target(),
                                    const_cast<std::byte*>(buffer.data()), buffer.size(), 0, MSG_NOSIGNAL},
        coring::detail::on_zero_bytes::fails_as_io_error);
  }
  coring::detail::io_target target() const noexcept {
    if (slot_ >= 0) return {slot_, slot_loop_, true};
    return {fd_.get(), nullptr, false};
  }
  void unregister() noexcept {
    if (slot_ >= 0) coring::detail::release_registered_file(slot_loop_, std::exchange(slot_, -1));
  }

  coring::detail::unique_fd fd_;
  int slot_ = -1;  // slot in slot_loop_'s registered-file table, or -1
  coring::detail::event_loop_impl* slot_loop_ = nullptr;
};

}  // namespace coring::net
