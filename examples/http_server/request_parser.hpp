// SPDX-License-Identifier: MIT
// http::request_parser: an incremental HTTP/1.1 request-head parser over a caller's buffer.
//
// Pure code (no coring, no allocation, no I/O): the connection keeps the bytes it has received in
// a buffer; parse(buffer, out) looks at the request that starts at buffer[0] and says whether its
// head (request line + header fields + the empty line) is complete, needs more bytes, or is
// malformed. It remembers how far it has scanned, so calling it again after more bytes arrived
// (the same bytes, plus more) does not rescan. reset() before the next request.
//
// On `complete`, `out` holds string_views into `buffer` (valid while those bytes are), and
// out.head_size bytes of the buffer are the head; the body (Content-Length bytes) follows.
// On `failed`, error_status() is the HTTP status to answer before closing the connection:
//   400 malformed (bad request line, bad field, bare LF, control bytes, bad or conflicting
//       Content-Length, missing or repeated Host in HTTP/1.1, obs-fold),
//   413 Content-Length above limits::max_body,
//   431 head larger than limits::max_head_bytes, or more than limits::max_headers fields,
//   501 any Transfer-Encoding (chunked request bodies are refused: the body cannot be framed),
//   505 an HTTP version other than 1.0 and 1.1.
// Methods are not judged here (any token parses); the server answers 405 for those it lacks.
// Not thread-safe; one parser per connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace http {

struct header {
  std::string_view name;
  std::string_view value;  // without the leading and trailing spaces and tabs
};

struct limits {
  std::size_t max_head_bytes = 8192;  // request line + fields + empty line
  std::size_t max_headers = 64;       // at most header_capacity
  std::uint64_t max_body = 1 << 20;   // Content-Length
};

inline constexpr std::size_t header_capacity = 64;

struct request {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;  // HTTP/1.<minor>
  std::array<header, header_capacity> fields{};
  std::size_t field_count = 0;
  std::uint64_t content_length = 0;
  bool keep_alive = true;     // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  std::size_t head_size = 0;  // bytes of the head in the buffer, including leading empty lines
  // The fields the server reads (empty when absent).
  std::string_view host;
  std::string_view if_none_match;
  std::string_view range;
  std::string_view accept_encoding;

  std::span<const header> headers() const noexcept { return {fields.data(), field_count}; }
  /// The first field with this name (case-insensitive), or an empty view.
  std::string_view find(std::string_view name) const noexcept;
};

enum class parse_state { need_more, complete, failed };

class request_parser {
 public:
  explicit request_parser(limits l = {}) noexcept : limits_(l) {}

  /// Parses the head of the request that starts at buffer[0]. `buffer` holds what the previous
  /// call saw, plus any bytes that arrived since.
  parse_state parse(std::string_view buffer, request& out) noexcept;
  /// The status to answer after `failed` (0 otherwise).
  int error_status() const noexcept { return error_; }
  /// Forgets the scan, for the request that follows.
  void reset() noexcept {
    scanned_ = 0;
    error_ = 0;
  }
  const limits& configured() const noexcept { return limits_; }

 private:
  parse_state fail(int status) noexcept {
    error_ = status;
    return parse_state::failed;
  }
  parse_state parse_head(std::string_view head, std::size_t skipped, request& out) noexcept;

  limits limits_;
  std::size_t scanned_ = 0;  // bytes known to hold no end of head
  int error_ = 0;
};

/// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b) noexcept;
/// Whether a comma-separated field value (Connection, Accept-Encoding...) lists `token`
/// (case-insensitive; parameters after ';' are ignored, and "gzip;q=0" does not count).
bool has_token(std::string_view list, std::string_view token) noexcept;

}  // namespace http
