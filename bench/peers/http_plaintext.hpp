// SPDX-License-Identifier: MIT
// The HTTP/1.1 "plaintext" benchmark's protocol part, shared by every server in bench/peers/ and
// bench/http_coring.cpp, so that the servers differ only in how they do their I/O.
//
// Every request gets the same answer: 200 OK, body "Hello, World!", keep-alive (HTTP/1.1's
// default). A request is everything up to and including the first "\r\n\r\n"; bodies are not
// supported (the benchmark sends GETs only). Pipelining: every complete request in what has been
// received is answered, in order, into one output buffer (one write for the whole batch); an
// incomplete request at the end is kept for the next read.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace http_plaintext {

inline constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\n"
    "Server: bench\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

/// A connection that has this much of an unfinished request buffered is dropped.
inline constexpr std::size_t max_request_bytes = 16 * 1024;

/// Answers every complete request at the start of `in`: appends one `response` per request to
/// `out` and returns how many bytes of `in` those requests took (the rest is an incomplete request).
/// Looks for each '\n' with memchr and checks whether it ends "\r\n\r\n" (a request has only a few
/// lines, so this beats a general substring search).
inline std::size_t answer(std::string_view in, std::string& out) {
  const char* const begin = in.data();
  const char* const end = begin + in.size();
  const char* next = begin;  // start of the first request not yet answered
  const char* from = begin;  // where to look for the next '\n'
  while (from != end) {
    const void* found = std::memchr(from, '\n', static_cast<std::size_t>(end - from));
    if (found == nullptr) break;
    const char* nl = static_cast<const char*>(found);
    from = nl + 1;
    if (nl - next >= 3 && std::memcmp(nl - 3, "\r\n\r\n", 4) == 0) {
      next = from;
      out.append(response);
    }
  }
  return static_cast<std::size_t>(next - begin);
}

/// One connection's input side: `chunk` has just been received; `pending` holds what was left of
/// earlier reads (an incomplete request). Appends the responses to `out` and keeps the new
/// remainder in `pending`. Returns false when the connection should be dropped (an unfinished
/// request larger than max_request_bytes).
inline bool feed(std::string& pending, std::string_view chunk, std::string& out) {
  if (pending.empty()) {
    // The usual case: the chunk starts at a request boundary, answer straight from it.
    const std::size_t used = answer(chunk, out);
    if (used != chunk.size()) pending.assign(chunk.substr(used));
  } else {
    pending.append(chunk);
    const std::size_t used = answer(pending, out);
    pending.erase(0, used);
  }
  return pending.size() <= max_request_bytes;
}

}  // namespace http_plaintext
