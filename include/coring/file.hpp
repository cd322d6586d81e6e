// SPDX-License-Identifier: MIT
// coring::file: an open file whose reads and writes go through the event loop's ring.
//
// Move-only owner of a file descriptor. Operations return awaitables that give result<T>; the
// kernel's error arrives as the error_code (an unopened or closed file gives
// errc::bad_file_descriptor). Awaited on the CPU pool, the operation runs on an io loop and the
// task resumes on the CPU pool. The buffer passed to read_at/write_at must stay alive until the
// co_await returns (it does when it lives in the awaiting task's frame, also on cancellation: the
// task resumes only after the kernel is done with the buffer). The vectored forms take a
// std::span<const iovec>: the iovec array and every buffer it points to must stay alive, unchanged,
// until the co_await returns (keep them in the awaiting task's frame); read_all/write_all copy the
// array when called and never modify the caller's (only the buffers must outlive them).
// Destroying an open file closes its descriptor synchronously; co_await close() closes it through
// the ring instead. Not thread-safe: one task uses a file at a time.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "coring/detail/io_op.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/file_status.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring {

class file;

namespace detail {

inline std::uint32_t clamp_len(std::size_t n) noexcept {
  return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(n);
}

/// A path the kernel would read only up to its first NUL: a different, shorter path than the
/// caller's, so operations refuse it with errc::invalid_argument instead.
inline bool has_nul(const std::string& path) noexcept {
  return path.find('\0') != std::string::npos;
}

/// The kernel reads the offset as a signed loff_t, and -1 as "the file's current position": an
/// offset above INT64_MAX is not what read_at/write_at promise, so those give errc::invalid_argument.
inline bool is_positional(op_code code) noexcept {
  return code == op_code::read || code == op_code::write || code == op_code::readv || code == op_code::writev;
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

/// A private copy of an iovec array that a read_all/write_all loop consumes as bytes arrive: the
/// entries already transferred are dropped from the front, a partly transferred one is shortened.
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

struct open_awaitable : op_awaitable {
  std::string path;
  bool bad_path = false;  // an interior NUL: gives errc::invalid_argument without a request
  open_awaitable(std::string p, int flags, mode_t mode) : path(std::move(p)), bad_path(has_nul(path)) {
    op.code = op_code::openat;
    op.args.path = {path.c_str(), static_cast<std::uint32_t>(flags | O_CLOEXEC),
                    static_cast<std::uint32_t>(mode)};
  }
  bool await_ready() const noexcept { return bad_path; }
  result<file> await_resume() noexcept;
};

/// A close that was canceled before the ring ran it still closes the descriptor (synchronously):
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

struct sync_awaitable : op_awaitable {
  sync_awaitable(int fd, std::uint32_t flags) noexcept {
    op.code = op_code::fsync;
    op.fd = fd;
    op.args.sync = {flags};
  }
  result<void> await_resume() noexcept {
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return {};
  }
};

inline task<result<std::size_t>> read_all(int fd, std::span<std::byte> buffer, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    const result<std::size_t> n = co_await transfer_awaitable{op_code::read, fd, buffer.data() + done,
                                                              buffer.size() - done, offset + done};
    if (!n) {
      if (n.error() == std::errc::interrupted || n.error() == std::errc::resource_unavailable_try_again)
        continue;
      co_return n.error();
    }
    if (*n == 0) break;  // end of file
    done += *n;
  }
  co_return done;
}

inline task<result<void>> write_all(int fd, std::span<const std::byte> buffer, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    const result<std::size_t> n =
        co_await transfer_awaitable{op_code::write, fd, const_cast<std::byte*>(buffer.data()) + done,
                                    buffer.size() - done, offset + done};
    if (!n) {
      if (n.error() == std::errc::interrupted || n.error() == std::errc::resource_unavailable_try_again)
        continue;
      co_return n.error();
    }
    if (*n == 0) co_return std::make_error_code(std::errc::io_error);  // the device took nothing
    done += *n;
  }
  co_return result<void>{};
}

/// Takes the cursor by value: the iovec array is copied when the task is made, before it starts.
inline task<result<std::size_t>> read_all(int fd, iovec_cursor cursor, std::uint64_t offset) {
  std::size_t done = 0;
  while (!cursor.done()) {
    const std::span<const iovec> next = cursor.pending();
    const result<std::size_t> n = co_await vectored_transfer(op_code::readv, fd, next, offset + done);
    if (!n) {
      if (n.error() == std::errc::interrupted || n.error() == std::errc::resource_unavailable_try_again)
        continue;
      co_return n.error();
    }
    if (*n == 0) break;  // end of file
    cursor.advance(*n);
    done += *n;
  }
  co_return done;
}

inline task<result<void>> write_all(int fd, iovec_cursor cursor, std::uint64_t offset) {
  std::size_t done = 0;
  while (!cursor.done()) {
    const std::span<const iovec> next = cursor.pending();
    const result<std::size_t> n = co_await vectored_transfer(op_code::writev, fd, next, offset + done);
    if (!n) {
      if (n.error() == std::errc::interrupted || n.error() == std::errc::resource_unavailable_try_again)
        continue;
      co_return n.error();
    }
    if (*n == 0) co_return std::make_error_code(std::errc::io_error);  // the device took nothing
    cursor.advance(*n);
    done += *n;
  }
  co_return result<void>{};
}

}  // namespace detail

class file {
 public:
  file() noexcept = default;
  /// Adopts an open descriptor.
  explicit file(int fd) noexcept : fd_(fd) {}

  /// Opens `path` (flags as for open(2): O_RDONLY, O_WRONLY | O_CREAT | O_TRUNC, ...). O_CLOEXEC is added.
  /// A path with an interior NUL gives errc::invalid_argument (as every path coring takes).
  [[nodiscard]] static detail::open_awaitable open(std::string path, int flags = O_RDONLY,
                                                   mode_t mode = 0644) {
    return detail::open_awaitable{std::move(path), flags, mode};
  }

  /// Reads up to buffer.size() bytes at `offset`; 0 means end of file. May read less than asked.
  /// Every positional read and write gives errc::invalid_argument for an offset above INT64_MAX.
  [[nodiscard]] detail::transfer_awaitable read_at(std::span<std::byte> buffer,
                                                   std::uint64_t offset) const noexcept {
    return {detail::op_code::read, fd_.get(), buffer.data(), buffer.size(), offset};
  }
  [[nodiscard]] detail::transfer_awaitable read_at(std::span<char> buffer,
                                                   std::uint64_t offset) const noexcept {
    return {detail::op_code::read, fd_.get(), buffer.data(), buffer.size(), offset};
  }
  /// Writes up to buffer.size() bytes at `offset`. May write less than asked.
  [[nodiscard]] detail::transfer_awaitable write_at(std::span<const std::byte> buffer,
                                                    std::uint64_t offset) const noexcept {
    return {detail::op_code::write, fd_.get(), const_cast<std::byte*>(buffer.data()), buffer.size(), offset};
  }
  [[nodiscard]] detail::transfer_awaitable write_at(std::span<const char> buffer,
                                                    std::uint64_t offset) const noexcept {
    return {detail::op_code::write, fd_.get(), const_cast<char*>(buffer.data()), buffer.size(), offset};
  }

  /// Scatter read (preadv(2)): fills the buffers in order from `offset`; gives the bytes read (0:
  /// end of file). May read less than asked; at most detail::max_iovecs entries are used.
  [[nodiscard]] detail::transfer_awaitable read_at(std::span<const iovec> buffers,
                                                   std::uint64_t offset) const noexcept {
    return detail::vectored_transfer(detail::op_code::readv, fd_.get(), buffers, offset);
  }
  /// Gather write (pwritev(2)): writes the buffers in order at `offset`; gives the bytes written.
  /// May write less than asked; at most detail::max_iovecs entries are used.
  [[nodiscard]] detail::transfer_awaitable write_at(std::span<const iovec> buffers,
                                                    std::uint64_t offset) const noexcept {
    return detail::vectored_transfer(detail::op_code::writev, fd_.get(), buffers, offset);
  }

  /// Reads until `buffer` is full or the file ends, looping over short reads; gives the bytes read
  /// (less than buffer.size() only at end of file).
  [[nodiscard]] task<result<std::size_t>> read_all(std::span<std::byte> buffer, std::uint64_t offset) const {
    return detail::read_all(fd_.get(), buffer, offset);
  }
  /// Writes all of `buffer`, looping over short writes.
  [[nodiscard]] task<result<void>> write_all(std::span<const std::byte> buffer, std::uint64_t offset) const {
    return detail::write_all(fd_.get(), buffer, offset);
  }
  /// Scatter read until every buffer is full or the file ends, looping over short reads (and over
  /// any number of iovecs); gives the bytes read. The iovec array is copied here, at the call; the
  /// buffers it points to must outlive the task.
  [[nodiscard]] task<result<std::size_t>> read_all(std::span<const iovec> buffers,
                                                   std::uint64_t offset) const {
    return detail::read_all(fd_.get(), detail::iovec_cursor{buffers}, offset);
  }
  /// Gather write of every buffer, in order from `offset`, looping over short writes. An empty span
  /// (or one of empty buffers) writes nothing and succeeds at once.
  [[nodiscard]] task<result<void>> write_all(std::span<const iovec> buffers, std::uint64_t offset) const {
    return detail::write_all(fd_.get(), detail::iovec_cursor{buffers}, offset);
  }
  /// Flushes data and metadata to the device (fsync(2)).
  [[nodiscard]] detail::sync_awaitable sync() const noexcept { return detail::sync_awaitable{fd_.get(), 0}; }
  /// Flushes data, and only the metadata needed to read it back (fdatasync(2)).
  [[nodiscard]] detail::sync_awaitable datasync() const noexcept {
    return detail::sync_awaitable{fd_.get(), detail::fsync_datasync_flag};
  }

  /// The open file's status (statx(2) on the descriptor: size, mode, owner, times).
  [[nodiscard]] detail::statx_awaitable stat() const {
    return detail::statx_awaitable{fd_.get(), std::string{}, AT_EMPTY_PATH};
  }

  /// Closes through the ring. The file is closed (is_open() false) as soon as this is called.
  [[nodiscard]] detail::close_awaitable close() noexcept { return detail::close_awaitable{fd_.release()}; }

  bool is_open() const noexcept { return fd_.get() >= 0; }
  int native_handle() const noexcept { return fd_.get(); }
  /// Gives up ownership of the descriptor.
  int release() noexcept { return fd_.release_to_caller(); }

 private:
  detail::unique_fd fd_;
};

inline result<file> detail::open_awaitable::await_resume() noexcept {
  if (bad_path) return error_from_errno(-EINVAL);
  const int r = finish();
  if (r < 0) return error_from_errno(r);
  return file{r};
}

}  // namespace coring
