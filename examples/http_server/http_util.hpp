// SPDX-License-Identifier: MIT
// Pure helpers of the HTTP server (no coring, no I/O): request targets to safe relative paths,
// single byte ranges, Content-Type by extension, If-None-Match, HTTP dates. Thread-safe (no state).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace http {

/// A request target made into a path relative to the served root, or the status that refuses it.
struct target_path {
  std::string path;        // "" for the root itself; segments joined by '/', none empty, "." or ".."
  bool directory = false;  // the target ended with '/'
  int status = 0;          // 0: ok; 400: bad percent-encoding; 403: "..", NUL or a '/' in a segment
};

/// Decodes the path of `target` (origin form "/a/b?q", or absolute form "http://host/a/b"):
/// drops the query, percent-decodes each segment, drops empty and "." segments, and refuses
/// "..", a decoded NUL, and a decoded '/' or '\' (which would make new segments). A target that
/// is neither form ("*", "a/b") gives 400.
target_path resolve_target(std::string_view target);

/// A single byte range of a representation of `size` bytes.
struct byte_range {
  enum kind_t { none, satisfiable, unsatisfiable } kind = none;
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const noexcept { return last - first + 1; }
};

/// Reads a Range field ("bytes=a-b", "bytes=a-", "bytes=-n"). A field that is not one
/// well-formed bytes range (several ranges, another unit, a > b, junk) gives `none`: the whole
/// representation is sent (RFC 9110 §14.2 lets a server ignore Range). A well-formed one that
/// starts at or past the end (or "-0") gives `unsatisfiable`.
byte_range parse_range(std::string_view field, std::uint64_t size) noexcept;

/// The Content-Type for a file name, by extension ("application/octet-stream" when unknown).
std::string_view content_type(std::string_view file_name) noexcept;
/// Whether gzip is worth it for this Content-Type (text/*, JSON, JavaScript, SVG, XML...).
bool compressible(std::string_view content_type) noexcept;

/// Whether an If-None-Match value matches `etag` (a quoted strong tag): "*", or a list holding
/// the tag (weak comparison, so W/"x" matches "x", as RFC 9110 §13.1.2 says).
bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept;

/// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date(std::chrono::system_clock::time_point t);

}  // namespace http
