// SPDX-License-Identifier: MIT
// coring::async_read_stream and coring::async_write_stream: what a protocol parser or writer needs
// of a byte stream, so that one is written once for TCP, Unix sockets, files and in-memory mocks.
//
//   template <coring::async_read_stream S>
//   coring::task<void> parse(coring::buffered_reader<S&>& in);
//
// A read stream has `read(std::span<std::byte>)`, awaited to a result<std::size_t>: the bytes read
// (at most the span's size, possibly fewer), 0 only at the end of the stream or for an empty span.
// A write stream has `write(std::span<const std::byte>)`, awaited to a result<std::size_t>: the
// bytes written (possibly fewer than given). These are the members net::tcp_stream and
// net::unix_stream have; file_stream gives a coring::file a position to satisfy both, and the
// buffered_reader / buffered_writer satisfy them too, so buffers stack.
//
// write_all(stream, bytes) is the loop over short writes that every write stream needs: it ends
// when all bytes are written, or with the stream's error (errc::io_error when a write takes none of
// a non-empty buffer, so it never spins). The bytes must stay alive until its task ends. It runs
// on the awaiting task's pool, like the writes it makes; it is a cancellation point wherever the
// stream's write is. Which thread may use a stream, and when, is the stream's own rule.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <system_error>

#include "coring/detail/awaitable_traits.hpp"
#include "coring/detail/text_bytes.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail {

/// An awaitable whose co_await gives something a result<std::size_t> can be made from.
template <class A>
concept awaitable_of_size = awaitable<A> && std::convertible_to<await_result_t<A>, result<std::size_t>>;

}  // namespace detail

template <class S>
concept async_read_stream = requires(S& stream, std::span<std::byte> buffer) {
  { stream.read(buffer) } -> detail::awaitable_of_size;
};

template <class S>
concept async_write_stream = requires(S& stream, std::span<const std::byte> buffer) {
  { stream.write(buffer) } -> detail::awaitable_of_size;
};

/// Writes all of `bytes` to `stream`, looping over short writes. The first error ends it.
template <async_write_stream S>
task<result<void>> write_all(S& stream, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const result<std::size_t> n = co_await stream.write(bytes);
    if (!n) co_return n.error();
    if (*n == 0) co_return std::make_error_code(std::errc::io_error);  // took nothing: do not spin
    bytes = bytes.subspan(*n);
  }
  co_return result<void>{};
}

/// Text: a std::string_view (or what converts to one: a std::string, a literal, without its NUL),
/// else a std::span<const char>.
template <async_write_stream S, detail::text_like Text>
task<result<void>> write_all(S& stream, const Text& text) {
  return write_all(stream, detail::text_bytes(text));
}

}  // namespace coring
