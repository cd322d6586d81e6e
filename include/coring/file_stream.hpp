// SPDX-License-Identifier: MIT
// coring::file_stream: a coring::file read and written as a stream, from a position that each
// transfer advances (what a file descriptor's own offset does for read(2)/write(2), kept here
// instead, so the ring's positioned reads and writes still serve it).
//
//   coring::file f = (co_await coring::file::open(path)).value();
//   coring::buffered_reader lines{coring::file_stream{f}};  // satisfies async_read_stream
//
// It refers to the file, which must outlive it; it owns nothing and closes nothing. Several
// file_streams may use one file at different positions (a reader and a writer). read() gives the
// bytes read (0: end of file) and write() the bytes written, as file::read_at/write_at at
// position(), which then advances by that many; a failed or canceled transfer leaves it where it
// was. A file opened with O_APPEND writes at its end whatever the position says (Linux's pwrite).
// Awaited on the CPU pool, the transfer runs on an io loop and the task resumes on the CPU pool.
// Not thread-safe: one task uses a file_stream at a time, and one transfer runs at a time.
// timeout(d, fs.read(buf)) links a kernel timeout to the transfer, as for file::read_at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "coring/detail/text_bytes.hpp"
#include "coring/file.hpp"
#include "coring/result.hpp"
#include "coring/stream_concepts.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

/// A read_at/write_at that advances `*position` by the bytes it moved.
struct positioned_transfer : transfer_awaitable {
  std::uint64_t* position;

  positioned_transfer(op_code code, int fd, void* data, std::size_t size, std::uint64_t* where) noexcept
      : transfer_awaitable(code, fd, data, size, *where), position(where) {}
  positioned_transfer(const positioned_transfer&) = delete;
  positioned_transfer& operator=(const positioned_transfer&) = delete;

  result<std::size_t> await_resume() noexcept {
    result<std::size_t> n = transfer_awaitable::await_resume();
    if (n) *position += *n;
    return n;
  }
};

}  // namespace detail

class file_stream {
 public:
  /// Reads and writes `f` from `position` on.
  explicit file_stream(const file& f, std::uint64_t position = 0) noexcept : file_(&f), position_(position) {}

  [[nodiscard]] detail::positioned_transfer read(std::span<std::byte> buffer) noexcept {
    return {detail::op_code::read, file_->native_handle(), buffer.data(), buffer.size(), &position_};
  }
  [[nodiscard]] detail::positioned_transfer read(std::span<char> buffer) noexcept {
    return {detail::op_code::read, file_->native_handle(), buffer.data(), buffer.size(), &position_};
  }
  [[nodiscard]] detail::positioned_transfer write(std::span<const std::byte> buffer) noexcept {
    return {detail::op_code::write, file_->native_handle(), const_cast<std::byte*>(buffer.data()),
            buffer.size(), &position_};
  }
  [[nodiscard]] detail::positioned_transfer write(std::span<const char> buffer) noexcept {
    return {detail::op_code::write, file_->native_handle(), const_cast<char*>(buffer.data()), buffer.size(),
            &position_};
  }

  /// Writes all of `bytes` from position(), looping over short writes.
  [[nodiscard]] task<result<void>> write_all(std::span<const std::byte> bytes) {
    return coring::write_all(*this, bytes);
  }
  /// Text: what converts to a std::string_view (a literal without its NUL), else to a
  /// std::span<const char>.
  template <detail::text_like Text>
  [[nodiscard]] task<result<void>> write_all(const Text& text) {
    return coring::write_all(*this, detail::text_bytes(text));
  }

  /// Where the next read or write starts.
  std::uint64_t position() const noexcept { return position_; }
  void seek(std::uint64_t position) noexcept { position_ = position; }
  const file& underlying() const noexcept { return *file_; }

 private:
  const file* file_;
  std::uint64_t position_;
};

static_assert(async_read_stream<file_stream> && async_write_stream<file_stream>);

}  // namespace coring
