// SPDX-License-Identifier: MIT
// What files and sockets share to move bytes through the loop: the one-op transfer awaitable (read,
// write, recv, send, readv, writev), the close awaitable, and move_all(), the one loop behind every
// read_all / write_all / read_exact.
//
// Lifetime: a transfer's buffer (and an iovec array given to a single op) must outlive its
// co_await; move_all() copies the iovec array when it is called (iovec_cursor), so only the buffers
// must outlive it. An awaitable resumes its task on the pool it was awaited from. Not thread-safe:
// one task awaits one awaitable.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <system_error>
#include <type_traits>
#include <vector>

#include "coring/detail/io_op.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring::detail {

inline std::uint32_t clamp_len(std::size_t n) noexcept {
  return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(n);
}

/// The kernel reads the offset as a signed loff_t, and -1 as "the file's current position": an
/// offset above INT64_MAX is not what read_at/write_at promise, so those give errc::invalid_argument.
inline bool is_positional(op_code code) noexcept {
  return code == op_code::read || code == op_code::write || code == op_code::readv || code == op_code::writev;
}

/// An error a loop over transfers retries rather than reports.
inline bool is_transient(std::error_code e) noexcept {
  return e == std::errc::interrupted || e == std::errc::resource_unavailable_try_again;
}

struct transfer_awaitable : op_awaitable {
  transfer_awaitable(op_code code, int fd, void* data, std::size_t size, std::uint64_t offset,
                     std::uint32_t flags = 0) noexcept {
    op.code = code;
    op.fd = fd;
    if (code == op_code::readv || code == op_code::writev) {
      op.args.vectored = {static_cast<const iovec*>(data), clamp_len(size), offset};
    } else {
      op.args.transfer = {data, clamp_len(size), flags, offset};
    }
    // A 0-byte receive would wait for the peer's next bytes (and then say 0, like end of stream):
    // nothing to move completes at once. Files answer 0-byte transfers at once anyway.
    if (size == 0 && (code == op_code::recv || code == op_code::send)) {
      op.result = fd < 0 ? -EBADF : 0;
      done_ = true;
    }
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
        is_positional(code)) {
      op.result = -EINVAL;
      done_ = true;
    }
  }
  transfer_awaitable(op_code code, io_target target, void* data, std::size_t size, std::uint64_t offset,
                     std::uint32_t flags = 0) noexcept
      : transfer_awaitable(code, target.fd, data, size, offset, flags) {
    op.loop = target.loop;
    op.fixed_file = target.fixed;
  }
  bool await_ready() const noexcept { return done_; }
  result<std::size_t> await_resume() noexcept {
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return static_cast<std::size_t>(r);
  }

 private:
  bool done_ = false;
};

/// The most iovecs one readv/writev/sendmsg/recvmsg takes (Linux's UIO_MAXIOV); more give EINVAL.
inline constexpr std::size_t max_iovecs = 1024;

/// A readv/writev: one op over at most max_iovecs entries of `buffers` (the rest are left out, as in
/// a short transfer). The iovec array is not copied: it must outlive the op.
inline transfer_awaitable vectored_transfer(op_code code, int fd, std::span<const iovec> buffers,
                                            std::uint64_t offset) noexcept {
  return {code, fd, const_cast<iovec*>(buffers.data()), std::min(buffers.size(), max_iovecs), offset};
}

/// A private copy of an iovec array that a move_all() loop consumes as bytes arrive: the entries
/// already transferred are dropped from the front, a partly transferred one is shortened.
/// Zero-length entries are skipped, so pending() is empty exactly when no byte is left.
class iovec_cursor {
 public:
  explicit iovec_cursor(std::span<const iovec> buffers) : vecs_(buffers.begin(), buffers.end()) {
    skip_empty();
  }

  bool done() const noexcept { return first_ == vecs_.size(); }
  /// The entries still to transfer, at most max_iovecs of them (one op's worth).
  std::span<const iovec> pending() const noexcept {
    return std::span<const iovec>(vecs_).subspan(first_, std::min(vecs_.size() - first_, max_iovecs));
  }
  /// Drops `n` transferred bytes from the front (n is at most what pending() holds).
  void advance(std::size_t n) noexcept {
    while (n > 0 && first_ < vecs_.size()) {
      iovec& v = vecs_[first_];
      if (n < v.iov_len) {
        v.iov_base = static_cast<std::byte*>(v.iov_base) + n;
        v.iov_len -= n;
        return;
      }
      n -= v.iov_len;
      ++first_;
    }
    skip_empty();
  }

 private:
  void skip_empty() noexcept {
    while (first_ < vecs_.size() && vecs_[first_].iov_len == 0) ++first_;
  }

  std::vector<iovec> vecs_;
  std::size_t first_ = 0;
};

/// A close that was canceled before the loop ran it still closes the descriptor (synchronously):
/// the caller gave it up when it asked for the close.
struct close_awaitable : op_awaitable {
  explicit close_awaitable(int fd) noexcept {
    op.code = op_code::close;
    op.fd = fd;
  }
  bool await_ready() const noexcept { return op.fd < 0; }
  result<void> await_resume() noexcept {
    if (op.fd < 0) return error_from_errno(-EBADF);
    const int r = finish();
    if (r == -ECANCELED) {
      close_fd(op.fd);
      return {};
    }
    if (r < 0) return error_from_errno(r);
    return {};
  }
};

// ---- move_all and its plans -----------------------------------------------------------------------
// A plan says what is left (finished()), makes the next op for it (next(): an awaitable giving
// result<size_t>, made in place) and takes note of what an op moved (advance()).

/// One contiguous buffer, from `offset` on (positional ops) or as a stream (recv/send: offset 0).
struct buffer_plan {
  op_code code;
  io_target target;
  std::byte* data;
  std::size_t size;
  std::uint64_t offset = 0;
  std::uint32_t flags = 0;
  std::size_t done = 0;

  bool finished() const noexcept { return done == size; }
  transfer_awaitable next() const noexcept {
    return {code, target, data + done, size - done, is_positional(code) ? offset + done : 0, flags};
  }
  void advance(std::size_t n) noexcept { done += n; }
};

/// An iovec array (copied into the cursor) by readv/writev from `offset` on.
struct vectored_plan {
  op_code code;
  int fd;
  iovec_cursor cursor;
  std::uint64_t offset;

  bool finished() const noexcept { return cursor.done(); }
  transfer_awaitable next() const noexcept { return vectored_transfer(code, fd, cursor.pending(), offset); }
  void advance(std::size_t n) noexcept {
    cursor.advance(n);
    offset += n;
  }
};

/// What a transfer of 0 bytes means to a move_all() loop.
enum class on_zero_bytes {
  ends,                   // end of file: give what was moved so far
  fails_as_io_error,      // the device or socket took nothing: errc::io_error (never spin)
  fails_as_disconnected,  // the peer closed before the exact count came: errc::connection_aborted
};

/// Runs the plan's ops one after another until it is finished (or a 0-byte transfer ends it),
/// retrying EINTR/EAGAIN; the first other error is the result. Gives the bytes moved (R = size_t)
/// or nothing (R = void). Takes the plan by value: it lives in the coroutine's frame.
template <class R, class Plan>
task<result<R>> move_all(Plan plan, on_zero_bytes zero) {
  std::size_t moved = 0;
  while (!plan.finished()) {
    const result<std::size_t> n = co_await plan.next();
    if (!n) {
      if (is_transient(n.error())) continue;
      co_return n.error();
    }
    if (*n == 0) {
      if (zero == on_zero_bytes::fails_as_io_error) co_return std::make_error_code(std::errc::io_error);
      if (zero == on_zero_bytes::fails_as_disconnected)
        co_return std::make_error_code(std::errc::connection_aborted);
      break;
    }
    plan.advance(*n);
    moved += *n;
  }
  if constexpr (std::is_void_v<R>) {
    co_return result<void>{};
  } else {
    co_return moved;
  }
}

}  // namespace coring::detail
