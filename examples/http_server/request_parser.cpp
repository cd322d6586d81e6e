// SPDX-License-Identifier: MIT
// http::request_parser: see request_parser.hpp. The scan looks for line ends with memchr, from
// where the previous call stopped; the head is split and checked once it is complete (a second
// pass over at most limits::max_head_bytes bytes).
#include "request_parser.hpp"

#include <cstring>

namespace http {

namespace {

constexpr char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// RFC 9110 tchar: the characters of a method or a field name.
bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

/// A field value's bytes: visible ASCII, space, tab and obs-text; no other control byte.
bool is_field_value(std::string_view s) noexcept {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

/// A request target: visible ASCII only (no space, no control byte, no byte above 0x7e).
bool is_target(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Digits only, at most 18 of them (no overflow); false for anything else ("+5", "5 5", "").
bool parse_length(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    std::string_view params;
    if (const std::size_t semi = item.find(';'); semi != std::string_view::npos) {
      params = trim(item.substr(semi + 1));
      item = item.substr(0, semi);
    }
    if (!iequals(trim(item), token)) continue;
    // "q=0" (or 0.0, 0.00...) means "not acceptable".
    if (params.size() >= 3 && lower(params[0]) == 'q' && params[1] == '=') {
      const std::string_view q = params.substr(2);
      if (q.find_first_not_of("0.") == std::string_view::npos) continue;
    }
    return true;
  }
  return false;
}

std::string_view request::find(std::string_view name) const noexcept {
  for (const header& h : headers()) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

parse_state request_parser::parse(std::string_view buffer, request& out) noexcept {
  if (error_ != 0) return parse_state::failed;
  // Empty lines before the request line are ignored (RFC 9112 §2.2).
  std::size_t start = 0;
  while (start + 1 < buffer.size() && buffer[start] == '\r' && buffer[start + 1] == '\n') start += 2;
  std::size_t pos = scanned_ > start ? scanned_ : start;
  while (pos < buffer.size()) {
    const void* hit = std::memchr(buffer.data() + pos, '\n', buffer.size() - pos);
    if (hit == nullptr) break;
    const auto nl = static_cast<std::size_t>(static_cast<const char*>(hit) - buffer.data());
    if (nl + 1 > limits_.max_head_bytes) return fail(431);
    if (nl == 0 || buffer[nl - 1] != '\r') return fail(400);  // a bare LF
    // An empty line (CRLF right after the previous LF) ends the head; the first line cannot.
    if (nl >= start + 3 && buffer[nl - 2] == '\n') {
      return parse_head(buffer.substr(start, nl + 1 - start), start, out);
    }
    pos = nl + 1;
  }
  if (buffer.size() >= limits_.max_head_bytes) return fail(431);
  // The checks at a LF look only at the two bytes before it: nothing before here is read again.
  scanned_ = buffer.size();
  return parse_state::need_more;
}

parse_state request_parser::parse_head(std::string_view head, std::size_t skipped, request& out) noexcept {
  out = request{};
  out.head_size = skipped + head.size();

  // Request line: method SP target SP HTTP/1.x CRLF (single spaces).
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400);
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400);
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(out.method) || !is_target(out.target)) return fail(400);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400);
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) return fail(505);
  out.minor_version = version[7] - '0';

  // Fields, up to the empty line.
  bool has_length = false;
  bool has_transfer_encoding = false;
  bool close = false;
  bool keep_alive = false;
  int hosts = 0;
  std::string_view rest = head.substr(line_end + 2);
  for (;;) {
    const std::size_t end = rest.find("\r\n");  // always found: the head ends with CRLF CRLF
    if (end == 0) break;
    const std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    if (field.front() == ' ' || field.front() == '\t') return fail(400);  // obs-fold
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return fail(400);
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return fail(400);
    if (out.field_count == limits_.max_headers || out.field_count == header_capacity) return fail(431);
    out.fields[out.field_count++] = header{name, value};

    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (!parse_length(value, n) || (has_length && n != out.content_length)) return fail(400);
      has_length = true;
      out.content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      has_transfer_encoding = true;
    } else if (iequals(name, "host")) {
      ++hosts;
      out.host = value;
    } else if (iequals(name, "connection")) {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    } else if (iequals(name, "if-none-match")) {
      if (out.if_none_match.empty()) out.if_none_match = value;
    } else if (iequals(name, "range")) {
      if (out.range.empty()) out.range = value;
    } else if (iequals(name, "accept-encoding")) {
      if (out.accept_encoding.empty()) out.accept_encoding = value;
    }
  }
  if (out.minor_version == 1 && hosts != 1) return fail(400);  // RFC 9112 §3.2
  if (hosts > 1) return fail(400);
  if (has_transfer_encoding) return fail(501);
  if (out.content_length > limits_.max_body) return fail(413);
  out.keep_alive = out.minor_version == 1 ? !close : keep_alive && !close;
  return parse_state::complete;
}

}  // namespace http
