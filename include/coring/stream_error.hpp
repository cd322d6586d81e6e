// SPDX-License-Identifier: MIT
// coring::stream_errc: the errors of the buffered stream layer (buffered_reader, buffered_writer,
// write_all over any stream) that the kernel has no errno for.
//
//   auto line = co_await reader.read_line();
//   if (line.error() == coring::stream_errc::end_of_stream) ...   // the peer closed between lines
//
// The codes are in coring::stream_category() ("coring.stream"). end_of_stream is a clean end: the
// stream ended where a new record would begin, with no byte of it read. unexpected_end_of_stream
// is a stream that ended inside a record (read_exact got some of its bytes, not all). too_long is a
// record that does not fit the reader's limit. unflushed_data is what a buffered_writer destroyed
// with bytes still buffered reports to the unhandled-exception handler. Plain values; any thread.
#pragma once

#include <system_error>
#include <type_traits>

namespace coring {

enum class stream_errc {
  end_of_stream = 1,         // the stream ended at a record boundary (nothing of a new record read)
  unexpected_end_of_stream,  // the stream ended inside a record
  too_long,                  // no delimiter within the reader's max_capacity bytes
  unflushed_data,            // a buffered_writer was destroyed with bytes it never wrote
};

/// The category of stream_errc ("coring.stream"); one object for the whole program.
const std::error_category& stream_category() noexcept;

inline std::error_code make_error_code(stream_errc e) noexcept {
  return {static_cast<int>(e), stream_category()};
}

}  // namespace coring

template <>
struct std::is_error_code_enum<coring::stream_errc> : std::true_type {};
