// SPDX-License-Identifier: MIT
// The RESP parser and reply encoders (see resp.hpp for what they promise).
#include "resp.hpp"

#include <charconv>
#include <cstring>
#include <limits>

namespace kv {

std::optional<std::int64_t> parse_int64(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s.size() == 1 && s[0] == '0') return 0;
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) i = 1;
  if (i >= s.size() || s[i] < '1' || s[i] > '9') return std::nullopt;
  std::uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  constexpr std::uint64_t max_positive = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (v > max_positive + 1) return std::nullopt;
    return v == max_positive + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(v);
  }
  if (v > max_positive) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

void resp_parser::reset() noexcept {
  kind_ = kind::none;
  pos_ = 0;
  expected_ = -1;
  bulk_ = -1;
  refs_.clear();
  views_.clear();
  scratch_.clear();
  consumed_ = 0;
  needed_ = 0;
}

parse_status resp_parser::parse(std::string_view data) {
  if (kind_ == kind::none) {
    views_.clear();
    if (data.empty()) {
      needed_ = 1;
      return parse_status::incomplete;
    }
    kind_ = data[0] == '*' ? kind::multibulk : kind::inline_command;
  }
  return kind_ == kind::multibulk ? parse_multibulk(data) : parse_inline(data);
}

parse_status resp_parser::fail(std::string message) {
  reset();
  error_ = std::move(message);
  return parse_status::error;
}

parse_status resp_parser::finish(std::string_view data, std::size_t end) {
  views_.clear();
  if (kind_ == kind::multibulk) {
    for (const span_ref& r : refs_) views_.push_back(data.substr(r.offset, r.size));
  } else {
    const std::string_view all = scratch_;
    for (const span_ref& r : refs_) views_.push_back(all.substr(r.offset, r.size));
  }
  kind_ = kind::none;
  pos_ = 0;
  expected_ = -1;
  bulk_ = -1;
  refs_.clear();
  consumed_ = end;
  needed_ = 0;
  return parse_status::complete;
}

parse_status resp_parser::parse_multibulk(std::string_view data) {
  const auto header = [&](const char* too_big, std::size_t& line_end) -> std::optional<parse_status> {
    const std::size_t cr = data.find('\r', pos_);
    if (cr == std::string_view::npos || cr + 1 >= data.size()) {
      // Redis's check: the unparsed part may not grow past the inline limit without a CR.
      if (data.size() - pos_ > limits_.max_inline) return fail(too_big);
      needed_ = data.size() + 1;
      return parse_status::incomplete;
    }
    line_end = cr;
    return std::nullopt;
  };
  if (expected_ < 0) {
    std::size_t cr = 0;
    if (auto r = header("Protocol error: too big mbulk count string", cr)) return *r;
    const auto count = parse_int64(data.substr(1, cr - 1));
    if (!count || *count > static_cast<std::int64_t>(limits_.max_args)) {
      return fail("Protocol error: invalid multibulk length");
    }
    pos_ = cr + 2;  // Redis skips the byte after CR without looking at it
    if (*count <= 0) return finish(data, pos_);
    expected_ = *count;
    refs_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(expected_, 1024)));
  }
  while (static_cast<std::int64_t>(refs_.size()) < expected_) {
    if (bulk_ < 0) {
      if (pos_ >= data.size()) {
        needed_ = pos_ + 1;
        return parse_status::incomplete;
      }
      if (data[pos_] != '$') {
        return fail(std::string("Protocol error: expected '$', got '") + data[pos_] + "'");
      }
      std::size_t cr = 0;
      if (auto r = header("Protocol error: too big bulk count string", cr)) return *r;
      const auto length = parse_int64(data.substr(pos_ + 1, cr - pos_ - 1));
      if (!length || *length < 0 || static_cast<std::uint64_t>(*length) > limits_.max_bulk) {
        return fail("Protocol error: invalid bulk length");
      }
      pos_ = cr + 2;
      bulk_ = *length;
    }
    const std::size_t size = static_cast<std::size_t>(bulk_);
    if (data.size() < pos_ || data.size() - pos_ < size + 2) {
      needed_ = pos_ + size + 2;
      return parse_status::incomplete;
    }
    refs_.push_back({pos_, size});
    pos_ += size + 2;  // the CR LF after the body is skipped unchecked, as Redis does
    bulk_ = -1;
  }
  return finish(data, pos_);
}

namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

parse_status resp_parser::parse_inline(std::string_view data) {
  const std::size_t newline = data.find('\n', pos_);
  if (newline == std::string_view::npos) {
    if (data.size() > limits_.max_inline) return fail("Protocol error: too big inline request");
    pos_ = data.size();  // nothing before here holds a newline: the next call looks on from here
    needed_ = data.size() + 1;
    return parse_status::incomplete;
  }
  std::string_view line = data.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Split as Redis's sdssplitargs does: blanks separate arguments; "..." takes \n \r \t \b \a
  // \xHH and \<char>; '...' takes \'; a closing quote must be followed by a blank or the end.
  scratch_.clear();
  refs_.clear();
  std::size_t i = 0;
  for (;;) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) break;
    const std::size_t start = scratch_.size();
    bool in_double = false;
    bool in_single = false;
    for (bool done = false; !done;) {
      if (in_double) {
        if (i == line.size()) return fail("Protocol error: unbalanced quotes in request");
        const char c = line[i];
        if (c == '\\' && i + 3 < line.size() && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          scratch_.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < line.size()) {
          const char e = line[i + 1];
          scratch_.push_back(e == 'n'   ? '\n'
                             : e == 'r' ? '\r'
                             : e == 't' ? '\t'
                             : e == 'b' ? '\b'
                             : e == 'a' ? '\a'
                                        : e);
          i += 2;
        } else if (c == '"') {
          if (i + 1 < line.size() && !is_space(line[i + 1])) {
            return fail("Protocol error: unbalanced quotes in request");
          }
          ++i;
          done = true;
        } else {
          scratch_.push_back(c);
          ++i;
        }
      } else if (in_single) {
        if (i == line.size()) return fail("Protocol error: unbalanced quotes in request");
        const char c = line[i];
        if (c == '\\' && i + 1 < line.size() && line[i + 1] == '\'') {
          scratch_.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < line.size() && !is_space(line[i + 1])) {
            return fail("Protocol error: unbalanced quotes in request");
          }
          ++i;
          done = true;
        } else {
          scratch_.push_back(c);
          ++i;
        }
      } else if (i == line.size() || is_space(line[i])) {
        done = true;
      } else if (line[i] == '"') {
        in_double = true;
        ++i;
      } else if (line[i] == '\'') {
        in_single = true;
        ++i;
      } else {
        scratch_.push_back(line[i]);
        ++i;
      }
    }
    refs_.push_back({start, scratch_.size() - start});
  }
  return finish(data, newline + 1);
}

// --- replies ----------------------------------------------------------------------------------

namespace {

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, r.ptr);
}

void append_line(std::string& out, char type, std::int64_t value) {
  out.push_back(type);
  append_number(out, value);
  out.append("\r\n", 2);
}

}  // namespace

void reply_simple(std::string& out, std::string_view text) {
  out.push_back('+');
  out.append(text);
  out.append("\r\n", 2);
}

void reply_error(std::string& out, std::string_view text) {
  out.push_back('-');
  const std::size_t start = out.size();
  out.append(text);
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out.append("\r\n", 2);
}

void reply_integer(std::string& out, std::int64_t value) {
  append_line(out, ':', value);
}

void reply_bulk(std::string& out, std::string_view value) {
  append_line(out, '$', static_cast<std::int64_t>(value.size()));
  out.append(value);
  out.append("\r\n", 2);
}

void reply_null(std::string& out) {
  out.append("$-1\r\n", 5);
}

void reply_array(std::string& out, std::size_t count) {
  append_line(out, '*', static_cast<std::int64_t>(count));
}

void encode_command(std::string& out, std::span<const std::string_view> args) {
  reply_array(out, args.size());
  for (std::string_view a : args) reply_bulk(out, a);
}

}  // namespace kv
