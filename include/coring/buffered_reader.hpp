// SPDX-License-Identifier: MIT
// coring::buffered_reader<S>: a read buffer in front of any async_read_stream (net::tcp_stream,
// net::unix_stream, file_stream, another buffered_reader, a test's in-memory stream), for parsers:
// read_until(delim), read_line(), read_exact(span), read(span), and fill_buf()/consume(n) to look
// at the buffered bytes in place.
//
//   coring::buffered_reader in{socket};         // an lvalue is borrowed: buffered_reader<tcp_stream&>
//   coring::buffered_reader own{std::move(s)};  // an rvalue is owned: buffered_reader<tcp_stream>
//   for (;;) {
//     auto line = co_await in.read_line();       // result<std::string_view>, into the buffer
//     if (line.error() == coring::stream_errc::end_of_stream) break;  // closed between lines
//     if (!line) co_return line.error();         // a socket error, stream_errc::too_long, ...
//     handle(*line);
//   }
//
// Copying nothing twice: bytes are read from the stream once, into the buffer, and read_until,
// read_line and fill_buf hand out views of them there. A view is valid until the next call on
// the reader (any member but buffered() and capacity()), which may overwrite or move the bytes.
// Only the unconsumed bytes of an incomplete record move, to the buffer's front before the next
// read (when that costs less than the room it gives the read, or the room after them runs short).
// read(span) and read_exact(span) copy from the buffer into the caller's span once; a read() of
// at least capacity() bytes with nothing buffered, and a read_exact() of more than capacity()
// bytes past what is buffered, read straight into the caller's span instead.
//
// Errors are result values. The stream's own error (errc::connection_reset, operation_canceled,
// timed_out, ...) is returned as it is. stream_errc::end_of_stream: the stream ended (its read gave
// 0) where a new record would begin, with no byte of it buffered. stream_errc::
// unexpected_end_of_stream: read_exact got some bytes of its record, not all. read_until and
// read_line at the end of a stream that has bytes but no delimiter give those bytes (without the
// delimiter: check for it if a truncated record is an error for you); the next call gives
// end_of_stream. stream_errc::too_long: read_until found no delimiter in max_capacity bytes (by
// default capacity: the buffer never grows); the bytes stay buffered (buffered(), consume()). An
// empty delimiter gives errc::invalid_argument. consume(n) of more than is buffered throws
// std::out_of_range. The end of a stream is not remembered: each call asks the stream again.
//
// Cancellation (a stop request, or coring::timeout around the call) ends the stream read in
// flight with its error; what happens to the bytes, per operation:
// - read, fill_buf, read_until, read_line: cancel-safe. Bytes read before the cancel stay in the
//   buffer, and the next call finds them, as with Tokio's BufReader.
// - read_exact of at most capacity() bytes: cancel-safe; it collects the record in the buffer and
//   consumes it only once it is whole (on unexpected_end_of_stream, too, the partial record stays
//   buffered). Larger: not cancel-safe; bytes already copied into the span are consumed.
// An operation that can answer from the buffer does not suspend, and is then no cancellation point.
//
// Threads: not thread-safe; one task uses a reader (and its stream's read side) at a time. It
// resumes where its stream's reads resume (the pool the task awaited from, for coring's streams).
// The awaitables are awaited at once (`co_await in.read_line()`), by the task that made them; a
// stream and buffers borrowed by the reader must outlive it. Movable (views stay valid), not
// copyable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/detail/maybe_ready.hpp"
#include "coring/result.hpp"
#include "coring/stream_concepts.hpp"
#include "coring/stream_error.hpp"
#include "coring/task.hpp"

namespace coring {

struct buffered_reader_options {
  /// The buffer's size (bytes; at least 1). Reads from the stream ask for up to this much; a
  /// read() of this many bytes or more with nothing buffered, and a read_exact() of more, go
  /// straight into the caller's span.
  std::size_t capacity = 8 * 1024;
  /// How far read_until may grow the buffer (doubling) to hold one record before it gives
  /// stream_errc::too_long. 0, or less than capacity: capacity, so the buffer never grows. Once
  /// grown, the buffer keeps its size.
  std::size_t max_capacity = 0;
};

template <class S>
class buffered_reader {
  // What the awaitables below run in await_resume when the call could answer from the buffer
  // (see detail::maybe_ready): a pointer and sizes, so nothing is built twice.
  struct record_now {
    buffered_reader* reader = nullptr;
    std::size_t size = 0;  // 0: the delimiter was empty
    bool line = false;
    result<std::string_view> operator()() const noexcept {
      if (size == 0) return std::make_error_code(std::errc::invalid_argument);
      return reader->take_record(size, line);
    }
  };
  struct copy_now {
    buffered_reader* reader = nullptr;
    std::span<std::byte> out{};
    result<std::size_t> operator()() const noexcept { return reader->take(out); }
  };
  struct exact_now {
    buffered_reader* reader = nullptr;
    std::span<std::byte> out{};
    result<void> operator()() const noexcept {
      (void)reader->take(out);
      return {};
    }
  };
  struct buffered_now {
    const buffered_reader* reader = nullptr;
    result<std::span<const std::byte>> operator()() const noexcept { return reader->buffered(); }
  };

 public:
  using stream_type = std::remove_reference_t<S>;
  static_assert(async_read_stream<stream_type>, "buffered_reader needs an async_read_stream");

  /// co_await gives result<std::string_view> (read_until, read_line).
  using record_awaitable = detail::maybe_ready<result<std::string_view>, record_now>;
  /// co_await gives result<std::size_t> (read).
  using read_awaitable = detail::maybe_ready<result<std::size_t>, copy_now>;
  /// co_await gives result<void> (read_exact).
  using exact_awaitable = detail::maybe_ready<result<void>, exact_now>;
  /// co_await gives result<std::span<const std::byte>> (fill_buf).
  using fill_awaitable = detail::maybe_ready<result<std::span<const std::byte>>, buffered_now>;

  explicit buffered_reader(S stream, buffered_reader_options options = {})
      : stream_(std::forward<S>(stream)),
        capacity_(options.capacity),
        max_capacity_(std::max(options.capacity, options.max_capacity)) {
    if (capacity_ == 0) throw std::invalid_argument("coring::buffered_reader: capacity must be at least 1");
    data_.reset(new std::byte[capacity_]);
  }

  buffered_reader(buffered_reader&& other) noexcept
      : stream_(std::forward<S>(other.stream_)),
        data_(std::move(other.data_)),
        capacity_(other.capacity_),
        max_capacity_(other.max_capacity_),
        begin_(std::exchange(other.begin_, 0)),
        end_(std::exchange(other.end_, 0)) {}
  buffered_reader& operator=(buffered_reader&&) = delete;
  buffered_reader(const buffered_reader&) = delete;
  buffered_reader& operator=(const buffered_reader&) = delete;

  /// Up to out.size() bytes: from the buffer when it holds any (without suspending), else from one
  /// read of the stream. 0 only at the end of the stream (or for an empty span). Cancel-safe.
  [[nodiscard]] read_awaitable read(std::span<std::byte> out) {
    if (begin_ != end_ || out.empty()) return read_awaitable{copy_now{this, out}};
    return read_awaitable{read_slow(out)};
  }
  [[nodiscard]] read_awaitable read(std::span<char> out) { return read(std::as_writable_bytes(out)); }

  /// The bytes up to and including the first `delimiter`, consumed, as a view into the buffer
  /// (valid until the next call). See the header comment for the end of the stream and too_long.
  [[nodiscard]] record_awaitable read_until(char delimiter) { return until(delimiter, {}, false); }
  /// The bytes up to and including the first occurrence of `delimiter` (e.g. "\r\n\r\n"), which
  /// must stay alive until the co_await returns.
  [[nodiscard]] record_awaitable read_until(std::string_view delimiter) {
    if (delimiter.empty()) return record_awaitable{record_now{this, 0, false}};
    return until('\0', delimiter, false);
  }
  /// The next line without its terminator: "\n" or "\r\n" is stripped (a lone '\r' elsewhere is
  /// kept); a last line without a terminator is given as it is. An empty line gives an empty view;
  /// the end of the stream is stream_errc::end_of_stream.
  [[nodiscard]] record_awaitable read_line() { return until('\n', {}, true); }

  /// Fills all of `out`, or fails: end_of_stream when the stream ends before any byte of it,
  /// unexpected_end_of_stream when it ends inside it. Cancel-safe up to capacity() bytes (see the
  /// header comment).
  [[nodiscard]] exact_awaitable read_exact(std::span<std::byte> out) {
    if (end_ - begin_ >= out.size()) return exact_awaitable{exact_now{this, out}};
    return exact_awaitable{read_exact_slow(out)};
  }
  [[nodiscard]] exact_awaitable read_exact(std::span<char> out) {
    return read_exact(std::as_writable_bytes(out));
  }

  /// The buffered bytes, after one read of the stream if there were none; empty at the end of the
  /// stream. Nothing is consumed: look, then consume(n). Cancel-safe.
  [[nodiscard]] fill_awaitable fill_buf() {
    if (begin_ != end_) return fill_awaitable{buffered_now{this}};
    return fill_awaitable{fill_slow()};
  }
  /// Drops the first `n` buffered bytes; std::out_of_range when fewer are buffered.
  void consume(std::size_t n) {
    if (n > end_ - begin_) throw std::out_of_range("coring::buffered_reader::consume: more than is buffered");
    advance(n);
  }
  /// What is buffered and not consumed yet (valid until the next call).
  std::span<const std::byte> buffered() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
  /// The buffer's size now (it grows only up to max_capacity, in read_until).
  std::size_t capacity() const noexcept { return capacity_; }

  stream_type& stream() noexcept { return stream_; }
  const stream_type& stream() const noexcept { return stream_; }

 private:
  /// The fast path of read_until/read_line: the record is already buffered.
  record_awaitable until(char single, std::string_view many, bool line) {
    const std::size_t at = find(single, many, 0);
    if (at != npos) [[likely]]
      return record_awaitable{record_now{this, at + delimiter_size(many), line}};
    return wait_until(single, many, line);
  }
  /// Out of line, so that the fast path above stays small enough to inline.
  [[gnu::noinline]] record_awaitable wait_until(char single, std::string_view many, bool line) {
    return record_awaitable{until_slow(single, many, line)};
  }

  task<result<std::size_t>> read_slow(std::span<std::byte> out) {
    if (out.size() >= capacity_) co_return co_await stream_.read(out);  // nothing buffered: bypass
    const result<std::size_t> n = co_await stream_.read(tail());
    if (!n) co_return n.error();
    end_ += *n;
    co_return take(out);
  }

  task<result<std::span<const std::byte>>> fill_slow() {
    const result<std::size_t> n = co_await stream_.read(tail());
    if (!n) co_return n.error();
    end_ += *n;
    co_return buffered();
  }

  /// Parameters are copies in this frame: `single` is read from here, `many` from the caller.
  task<result<std::string_view>> until_slow(char single, std::string_view many, bool line) {
    const std::size_t size = delimiter_size(many);
    for (;;) {
      make_room(std::max<std::size_t>(1, capacity_ / 2));
      if (end_ == capacity_ && !grow()) co_return make_error_code(stream_errc::too_long);
      const std::size_t searched = end_ - begin_;  // no delimiter starts before its last size-1 bytes
      const result<std::size_t> n = co_await stream_.read(tail());
      if (!n) co_return n.error();
      if (*n == 0) {
        if (begin_ == end_) co_return make_error_code(stream_errc::end_of_stream);
        co_return take_record(end_ - begin_, line);  // the last record, without its delimiter
      }
      end_ += *n;
      const std::size_t at = find(single, many, searched >= size - 1 ? searched - (size - 1) : 0);
      if (at != npos) co_return take_record(at + size, line);
    }
  }

  task<result<void>> read_exact_slow(std::span<std::byte> out) {
    if (out.size() <= capacity_) {
      // Cancel-safe: the record is collected in the buffer and consumed only once it is whole.
      while (end_ - begin_ < out.size()) {
        make_room(out.size() - (end_ - begin_));
        const result<std::size_t> n = co_await stream_.read(tail());
        if (!n) co_return n.error();
        if (*n == 0) {
          co_return make_error_code(begin_ == end_ ? stream_errc::end_of_stream
                                                   : stream_errc::unexpected_end_of_stream);
        }
        end_ += *n;
      }
      (void)take(out);
      co_return result<void>{};
    }
    std::size_t done = take(out);  // what is buffered, then straight into `out`
    while (done < out.size()) {
      const result<std::size_t> n = co_await stream_.read(out.subspan(done));
      if (!n) co_return n.error();
      if (*n == 0) {
        co_return make_error_code(done == 0 ? stream_errc::end_of_stream
                                            : stream_errc::unexpected_end_of_stream);
      }
      done += *n;
    }
    co_return result<void>{};
  }

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  static std::size_t delimiter_size(std::string_view many) noexcept { return many.empty() ? 1 : many.size(); }

  /// Where the delimiter starts, searching the buffered bytes from offset `from`; npos if absent.
  std::size_t find(char single, std::string_view many, std::size_t from) const noexcept {
    const char* base = reinterpret_cast<const char*>(data_.get() + begin_);
    const std::size_t size = end_ - begin_;
    if (from >= size) return npos;
    if (many.size() <= 1) {
      const char c = many.empty() ? single : many.front();
      const void* hit = std::memchr(base + from, c, size - from);
      return hit == nullptr ? npos : static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    }
    return std::string_view(base, size).find(many, from);
  }

  /// Consumes the first `size` buffered bytes and views them (a line loses "\n" or "\r\n").
  std::string_view take_record(std::size_t size, bool line) noexcept {
    std::string_view record(reinterpret_cast<const char*>(data_.get() + begin_), size);
    advance(size);
    if (line && !record.empty() && record.back() == '\n') {
      record.remove_suffix(1);
      if (!record.empty() && record.back() == '\r') record.remove_suffix(1);
    }
    return record;
  }

  /// Copies what is buffered, up to out.size() bytes, into `out`, and consumes it.
  std::size_t take(std::span<std::byte> out) noexcept {
    const std::size_t n = std::min(out.size(), end_ - begin_);
    if (n != 0) std::memcpy(out.data(), data_.get() + begin_, n);
    advance(n);
    return n;
  }

  void advance(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;  // empty: the next read gets the whole buffer
  }

  /// Moves the unconsumed bytes to the front before a read: when fewer than `wanted` bytes are free
  /// after them, or when they are no more than the consumed bytes before them (the move then costs
  /// less than the room it gives the read, so every byte moves a bounded number of times).
  void make_room(std::size_t wanted) noexcept {
    if (begin_ == 0) return;
    if (capacity_ - end_ >= wanted && end_ - begin_ > begin_) return;
    std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }

  /// Doubles the buffer (at most to max_capacity); false when it is there already.
  bool grow() {
    if (capacity_ >= max_capacity_) return false;
    const std::size_t bigger = capacity_ > max_capacity_ / 2 ? max_capacity_ : capacity_ * 2;
    std::unique_ptr<std::byte[]> data(new std::byte[bigger]);
    std::memcpy(data.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(data);
    capacity_ = bigger;
    return true;
  }

  std::span<std::byte> tail() noexcept { return {data_.get() + end_, capacity_ - end_}; }

  S stream_;
  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_;
  std::size_t max_capacity_;
  std::size_t begin_ = 0;  // [begin_, end_) is buffered and not consumed
  std::size_t end_ = 0;
};

/// buffered_reader{lvalue} borrows the stream, buffered_reader{rvalue} owns it.
template <class S>
buffered_reader(S&&) -> buffered_reader<S>;
template <class S>
buffered_reader(S&&, buffered_reader_options) -> buffered_reader<S>;

}  // namespace coring
