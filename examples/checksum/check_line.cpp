// SPDX-License-Identifier: MIT
// The `checksum -c` line parser (see check_line.hpp). It follows the order in which sha256sum
// looks at a line, including its edge cases (what an out-of-range index reads: the NUL that ends
// the C string sha256sum works on), so that the same lines are accepted and rejected.
#include "check_line.hpp"

#include <optional>

namespace checksum {

namespace {

constexpr std::string_view bsd_tag = "SHA256";
/// sha256sum's shortest line: the digest, one blank and a one-byte name.
constexpr std::size_t min_line_length = sha256_hex_length + 2;

bool blank(char c) {
  return c == ' ' || c == '\t';
}

bool hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool all_hex(std::string_view s) {
  if (s.size() != sha256_hex_length) return false;
  for (const char c : s) {
    if (!hex_digit(c)) return false;
  }
  return true;
}

/// s[i], or the terminating NUL past the end.
char at(std::string_view s, std::size_t i) {
  return i < s.size() ? s[i] : '\0';
}

/// What a C string starting at s[0] holds: s up to its first NUL.
std::string_view c_string(std::string_view s) {
  return s.substr(0, s.find('\0'));
}

/// Undoes escape_name(): only \\, \n and \r may be escaped; a trailing lone backslash or a NUL byte
/// makes the line malformed.
std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0') return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    switch (s[i]) {
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case '\\':
        out.push_back('\\');
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

/// The name (or its unescaped form) of an entry, or nullopt when it does not unescape.
std::optional<std::string> entry_name(std::string_view raw, bool escaped) {
  if (escaped) return unescape(raw);
  return std::string(c_string(raw));
}

/// "<name>) = <hex>", what follows "SHA256 (": the name ends at the last ')'.
parsed_line parse_bsd(std::string_view s, bool escaped) {
  parsed_line malformed{line_kind::malformed, {}};
  if (s.empty()) return malformed;
  std::size_t close = s.size() - 1;
  while (close > 0 && s[close] != ')') --close;
  if (s[close] != ')') return malformed;
  std::optional<std::string> name = entry_name(s.substr(0, close), escaped);
  if (!name) return malformed;
  std::size_t i = close + 1;
  while (blank(at(s, i))) ++i;
  if (at(s, i) != '=') return malformed;
  ++i;
  while (blank(at(s, i))) ++i;
  const std::string_view hex = c_string(s.substr(i));
  if (!all_hex(hex)) return malformed;
  return {line_kind::entry, check_entry{std::string(hex), std::move(*name), false}};
}

}  // namespace

parsed_line check_parser::parse(std::string_view line) {
  parsed_line malformed{line_kind::malformed, {}};
  if (!line.empty() && line.front() == '#') return {};
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return {};

  const std::string_view s = line;
  std::size_t i = 0;
  while (i < s.size() && blank(s[i])) ++i;
  bool escaped = false;
  if (at(s, i) == '\\') {
    ++i;
    escaped = true;
  }
  if (s.substr(i, bsd_tag.size()) == bsd_tag) {
    i += bsd_tag.size();
    if (at(s, i) == ' ') ++i;
    if (at(s, i) != '(') return malformed;
    return parse_bsd(s.substr(i + 1), escaped);
  }

  // (sha256sum counts the byte after a leading backslash here, as it does.)
  if (s.size() - i < min_line_length + (at(s, i) == '\\' ? 1 : 0)) return malformed;
  const std::string_view hex = s.substr(i, sha256_hex_length);
  i += sha256_hex_length;
  if (!blank(s[i])) return malformed;
  ++i;
  if (!all_hex(hex)) return malformed;

  bool binary = false;
  if (s.size() - i == 1 || (s[i] != ' ' && s[i] != '*')) {
    // "<hex> <name>": BSD's reversed form, unless this file began in sha256sum's own form.
    if (bsd_reversed_ == reversed::no) return malformed;
    bsd_reversed_ = reversed::yes;
  } else if (bsd_reversed_ != reversed::yes) {
    bsd_reversed_ = reversed::no;
    binary = s[i++] == '*';
  }
  std::optional<std::string> name = entry_name(s.substr(i), escaped);
  if (!name) return malformed;
  return {line_kind::entry, check_entry{std::string(hex), std::move(*name), binary}};
}

bool hex_equal(std::string_view expected, std::string_view actual_hex) {
  if (expected.size() != actual_hex.size()) return false;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    char c = expected[i];
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (c != actual_hex[i]) return false;
  }
  return true;
}

}  // namespace checksum
