// SPDX-License-Identifier: MIT
// kv::resp_parser: an incremental parser of Redis's request protocol (RESP2 multibulk requests
// and inline commands), and the reply encoders. Pure: no coring, no I/O, no allocation per request
// once its vectors have grown.
//
// The parser is fed the bytes of one connection starting at the first byte of the command being
// parsed. A call that returns `incomplete` remembers how far it got (as offsets from that first
// byte), so the next call, given the same bytes plus more (the buffer may have moved), goes on
// from there: a large bulk is scanned once, not once per read. `complete` gives the command's
// arguments (views into the caller's bytes, or into the parser for an inline command, valid until
// the next parse() or reset()) and the bytes it took; an empty argument list is a blank line or
// `*0`/`*-1`, which Redis ignores. `error` gives the reply Redis sends before it closes the
// connection ("Protocol error: ..."). Limits (max_args, max_bulk, max_inline) are Redis's:
// 1024*1024 arguments is smaller than Redis's INT_MAX, on purpose: a client cannot make the server
// reserve memory for billions of arguments.
//
// Thread safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

/// Redis's string2ll: a decimal integer with an optional '-', no '+', no leading zeros, no spaces.
std::optional<std::int64_t> parse_int64(std::string_view text) noexcept;

struct parser_limits {
  std::size_t max_args = 1024 * 1024;        // arguments in one multibulk request
  std::size_t max_bulk = 512 * 1024 * 1024;  // bytes in one argument (proto-max-bulk-len)
  std::size_t max_inline = 64 * 1024;        // bytes of an inline command or of a header line
};

enum class parse_status { complete, incomplete, error };

class resp_parser {
 public:
  explicit resp_parser(parser_limits limits = {}) : limits_(limits) {}

  /// Parses the command that starts at data[0] (see the file comment for what a call remembers).
  parse_status parse(std::string_view data);

  /// After `complete`: the command's arguments.
  std::span<const std::string_view> args() const noexcept { return views_; }
  /// After `complete`: how many bytes of `data` the command took (the next one starts there).
  std::size_t consumed() const noexcept { return consumed_; }
  /// After `error`: Redis's message, e.g. "Protocol error: invalid bulk length".
  const std::string& error() const noexcept { return error_; }
  /// After `incomplete`: how many bytes the command needs at least (a bulk's body is known).
  std::size_t needed() const noexcept { return needed_; }

  /// Forgets the command in progress.
  void reset() noexcept;

 private:
  enum class kind : std::uint8_t { none, multibulk, inline_command };
  struct span_ref {
    std::size_t offset;
    std::size_t size;
  };

  parse_status parse_multibulk(std::string_view data);
  parse_status parse_inline(std::string_view data);
  parse_status fail(std::string message);
  parse_status finish(std::string_view data, std::size_t end);

  parser_limits limits_;
  kind kind_ = kind::none;
  std::size_t pos_ = 0;         // the next byte to look at, from the command's first byte
  std::int64_t expected_ = -1;  // multibulk: arguments announced (-1: header not read yet)
  std::int64_t bulk_ = -1;      // multibulk: the current argument's length (-1: not read yet)
  std::vector<span_ref> refs_;  // multibulk: where each argument is; inline: where in scratch_
  std::vector<std::string_view> views_;
  std::string scratch_;  // inline: the unquoted arguments, one after the other
  std::size_t consumed_ = 0;
  std::size_t needed_ = 0;
  std::string error_;
};

// --- replies (appended to `out`) --------------------------------------------------------------
void reply_simple(std::string& out, std::string_view text);  // +text
/// -text, with CR and LF turned into spaces (as Redis does); `text` starts with ERR or a code.
void reply_error(std::string& out, std::string_view text);
void reply_integer(std::string& out, std::int64_t value);
void reply_bulk(std::string& out, std::string_view value);
void reply_null(std::string& out);  // $-1
void reply_array(std::string& out, std::size_t count);
/// A request as a client sends it (and as the append-only file stores it): *N then N bulks.
void encode_command(std::string& out, std::span<const std::string_view> args);

}  // namespace kv
