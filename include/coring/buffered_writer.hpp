// SPDX-License-Identifier: MIT
// coring::buffered_writer<S>: a write buffer in front of any async_write_stream (net::tcp_stream,
// net::unix_stream, file_stream, another buffered_writer, a test's in-memory stream): many small
// writes become few large ones.
//
//   coring::buffered_writer out{socket};  // borrows `socket` (an lvalue); an rvalue is owned
//   (void)co_await out.write_all("HTTP/1.1 200 OK\r\n");  // buffered: no suspension, no syscall
//   (void)co_await out.write_all(body);  // at least capacity() bytes: written from `body` itself
//   if (auto r = co_await out.flush(); !r) ...  // the stream's error; unwritten bytes stay buffered
//
// write(bytes) copies into the buffer when they fit (without suspending) and gives bytes.size().
// When they do not, it first writes out what is buffered; then bytes of at least capacity() go to
// the stream directly, by one write of the stream (so write() may be short, as any stream's), never
// copied into the buffer; smaller ones are buffered. write_all(bytes) loops over write() until all
// are taken. flush() writes out everything buffered and then flushes the stream when it has a
// flush() of its own (a buffered_writer under this one), so buffers stack.
//
// Nothing written is dropped silently. A failed or canceled flush (or the write that flushed)
// returns the stream's error, and the bytes the stream did not take stay buffered, in order, for
// the next flush (buffered() shows them). Flush before the writer goes: a writer destroyed with
// bytes still buffered cannot write them (a destructor cannot await) and reports them, as a
// std::system_error(stream_errc::unflushed_data) saying how many, to the unhandled-exception
// handler of the runtime or event_loop whose thread destroys it (runtime::
// set_unhandled_exception_handler; outside any, to stderr). discard() drops the buffered bytes on
// purpose (a connection given up after an error) and so silences that report.
//
// Threads: not thread-safe; one task uses a writer (and its stream's write side) at a time. It
// resumes where its stream's writes resume (the pool the task awaited from, for coring's streams).
// The awaitables are awaited at once, by the task that made them; bytes handed to a write or
// write_all that is not done must stay alive until its co_await returns. A stream borrowed by the
// writer must outlive it. Movable, not copyable.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/maybe_ready.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/detail/text_bytes.hpp"
#include "coring/detail/unhandled.hpp"
#include "coring/result.hpp"
#include "coring/stream_concepts.hpp"
#include "coring/stream_error.hpp"
#include "coring/task.hpp"

namespace coring {

template <class S>
class buffered_writer {
  // What the awaitables below run in await_resume when the bytes fit the buffer (see
  // detail::maybe_ready): a pointer and a span, so nothing is built twice.
  struct append_now {
    buffered_writer* writer = nullptr;
    std::span<const std::byte> bytes{};
    result<std::size_t> operator()() const noexcept { return writer->append(bytes); }
  };
  struct append_all_now {
    buffered_writer* writer = nullptr;
    std::span<const std::byte> bytes{};
    result<void> operator()() const noexcept {
      (void)writer->append(bytes);
      return {};
    }
  };

 public:
  using stream_type = std::remove_reference_t<S>;
  static_assert(async_write_stream<stream_type>, "buffered_writer needs an async_write_stream");

  /// co_await gives result<std::size_t> (write).
  using write_awaitable = detail::maybe_ready<result<std::size_t>, append_now>;
  /// co_await gives result<void> (write_all).
  using write_all_awaitable = detail::maybe_ready<result<void>, append_all_now>;
  /// co_await gives result<void> (flush).
  using flush_awaitable = detail::maybe_ready<result<void>, detail::ready_value<result<void>>>;

  static constexpr std::size_t default_capacity = 8 * 1024;

  /// `capacity`: the buffer's size in bytes (at least 1); writes of this many bytes or more bypass it.
  explicit buffered_writer(S stream, std::size_t capacity = default_capacity)
      : stream_(std::forward<S>(stream)), capacity_(capacity) {
    if (capacity_ == 0) throw std::invalid_argument("coring::buffered_writer: capacity must be at least 1");
    data_.reset(new std::byte[capacity_]);
  }

  buffered_writer(buffered_writer&& other) noexcept
      : stream_(std::forward<S>(other.stream_)),
        data_(std::move(other.data_)),
        capacity_(other.capacity_),
        begin_(std::exchange(other.begin_, 0)),
        end_(std::exchange(other.end_, 0)) {}
  buffered_writer& operator=(buffered_writer&&) = delete;
  buffered_writer(const buffered_writer&) = delete;
  buffered_writer& operator=(const buffered_writer&) = delete;

  /// Reports bytes still buffered (see the header comment); call flush() or discard() first.
  ~buffered_writer() {
    if (begin_ == end_) return;
    detail::report_unhandled(
        detail::current_scheduler(),
        std::make_exception_ptr(std::system_error(make_error_code(stream_errc::unflushed_data),
                                                  "coring::buffered_writer destroyed with " +
                                                      std::to_string(end_ - begin_) + " bytes not flushed")));
  }

  /// Takes bytes: all of them into the buffer when they fit, else see the header comment. Gives
  /// how many it took (all, except for a short direct write of a large `bytes`).
  [[nodiscard]] write_awaitable write(std::span<const std::byte> bytes) {
    if (fits(bytes)) return write_awaitable{append_now{this, bytes}};
    return write_awaitable{write_slow(bytes)};
  }
  [[nodiscard]] write_awaitable write(std::span<const char> bytes) { return write(std::as_bytes(bytes)); }

  /// Takes all of `bytes`, looping over write().
  [[nodiscard]] write_all_awaitable write_all(std::span<const std::byte> bytes) {
    if (fits(bytes)) return write_all_awaitable{append_all_now{this, bytes}};
    return write_all_awaitable{write_all_slow(bytes)};
  }
  /// Text: what converts to a std::string_view (a literal without its NUL), else to a
  /// std::span<const char>.
  template <detail::text_like Text>
  [[nodiscard]] write_all_awaitable write_all(const Text& text) {
    return write_all(detail::text_bytes(text));
  }

  /// Writes out everything buffered, then flushes the stream if it has flush().
  [[nodiscard]] flush_awaitable flush() {
    if (begin_ == end_ && !stream_flushes) return flush_awaitable{detail::ready_value<result<void>>{}};
    return flush_awaitable{flush_slow()};
  }

  /// Drops the buffered bytes unwritten (on purpose: no unflushed_data report).
  void discard() noexcept { begin_ = end_ = 0; }
  /// The bytes taken and not yet written to the stream.
  std::span<const std::byte> buffered() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t capacity() const noexcept { return capacity_; }

  stream_type& stream() noexcept { return stream_; }
  const stream_type& stream() const noexcept { return stream_; }

 private:
  /// A stream with a flush() of its own (a buffered_writer under this one) is flushed too.
  static constexpr bool stream_flushes = requires(stream_type & s) {
    s.flush();
    requires std::convertible_to<detail::await_result_t<decltype(s.flush())>, result<void>>;
  };

  bool fits(std::span<const std::byte> bytes) const noexcept {
    return bytes.size() < capacity_ && bytes.size() <= capacity_ - end_;
  }

  std::size_t append(std::span<const std::byte> bytes) noexcept {
    if (!bytes.empty()) std::memcpy(data_.get() + end_, bytes.data(), bytes.size());
    end_ += bytes.size();
    return bytes.size();
  }

  /// Writes the buffered bytes to the stream; on an error the rest stays buffered.
  task<result<void>> drain() {
    while (begin_ != end_) {
      const result<std::size_t> n = co_await stream_.write(buffered());
      if (!n) co_return n.error();
      if (*n == 0) co_return std::make_error_code(std::errc::io_error);  // took nothing: do not spin
      begin_ += *n;
    }
    begin_ = end_ = 0;
    co_return result<void>{};
  }

  task<result<std::size_t>> write_slow(std::span<const std::byte> bytes) {
    if (const result<void> drained = co_await drain(); !drained) co_return drained.error();
    if (bytes.size() >= capacity_) co_return co_await stream_.write(bytes);  // large: no copy
    co_return append(bytes);
  }

  task<result<void>> write_all_slow(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const result<std::size_t> n = co_await write(bytes);
      if (!n) co_return n.error();
      if (*n == 0) co_return std::make_error_code(std::errc::io_error);
      bytes = bytes.subspan(*n);
    }
    co_return result<void>{};
  }

  task<result<void>> flush_slow() {
    if (const result<void> drained = co_await drain(); !drained) co_return drained.error();
    if constexpr (stream_flushes) {
      co_return co_await stream_.flush();
    } else {
      co_return result<void>{};
    }
  }

  S stream_;
  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;  // [begin_, end_) is taken and not yet written
  std::size_t end_ = 0;
};

/// buffered_writer{lvalue} borrows the stream, buffered_writer{rvalue} owns it.
template <class S>
buffered_writer(S&&) -> buffered_writer<S>;
template <class S>
buffered_writer(S&&, std::size_t) -> buffered_writer<S>;

}  // namespace coring
