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

#include "coring/detail/fd_transfer.hpp"
#include "coring/detail/io_op.hpp"
#include "coring/detail/unique_fd.hpp"
#include "coring/file_status.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring {

class file;

namespace detail {

/// A path the kernel would read only up to its first NUL: a different, shorter path than the
/// caller's, so operations refuse it with errc::invalid_argument instead.
inline bool has_nul(const std::string& path) noexcept {
  return path.find('\0') != std::string::npos;
}

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
    return detail::move_all<std::size_t>(
        detail::buffer_plan{detail::op_code::read, {fd_.get()}, buffer.data(), buffer.size(), offset},
        detail::on_zero_bytes::ends);
  }
  /// Writes all of `buffer`, looping over short writes.
  [[nodiscard]] task<result<void>> write_all(std::span<const std::byte> buffer, std::uint64_t offset) const {
    return detail::move_all<void>(detail::buffer_plan{detail::op_code::write,
                                                      {fd_.get()},
                                                      const_cast<std::byte*>(buffer.data()),
                                                      buffer.size(),
                                                      offset},
                                  detail::on_zero_bytes::fails_as_io_error);
  }
  /// Scatter read until every buffer is full or the file ends, looping over short reads (and over
  /// any number of iovecs); gives the bytes read. The iovec array is copied here, at the call; the
  /// buffers it points to must outlive the task.
  [[nodiscard]] task<result<std::size_t>> read_all(std::span<const iovec> buffers,
                                                   std::uint64_t offset) const {
    return detail::move_all<std::size_t>(
        detail::vectored_plan{detail::op_code::readv, fd_.get(), detail::iovec_cursor{buffers}, offset},
        detail::on_zero_bytes::ends);
  }
  /// Gather write of every buffer, in order from `offset`, looping over short writes. An empty span
  /// (or one of empty buffers) writes nothing and succeeds at once.
  [[nodiscard]] task<result<void>> write_all(std::span<const iovec> buffers, std::uint64_t offset) const {
    return detail::move_all<void>(
        detail::vectored_plan{detail::op_code::writev, fd_.get(), detail::iovec_cursor{buffers}, offset},
        detail::on_zero_bytes::fails_as_io_error);
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
