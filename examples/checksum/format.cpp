// SPDX-License-Identifier: MIT
// checksum's output formats (see format.hpp). quote_name() reproduces what coreutils prints for
// odd names; examples/checksum/checksum_tests.cpp holds sha256sum's own answers for many of them.
#include "format.hpp"

#include <cstdint>

namespace checksum {

std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

bool needs_escape(std::string_view name) {
  return name.find_first_of("\\\n\r") != std::string_view::npos;
}

std::string escape_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 8);
  for (const char c : name) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string format_sum_line(std::string_view hex, std::string_view name) {
  std::string line;
  const bool escape = needs_escape(name);
  line.reserve(hex.size() + name.size() + 4);
  if (escape) line.push_back('\\');
  line.append(hex);
  line.append("  ");
  line.append(escape ? escape_name(name) : std::string(name));
  line.push_back('\n');
  return line;
}

std::string format_check_line(std::string_view name, std::string_view status) {
  std::string line;
  if (name.find('\n') != std::string_view::npos) {
    line.push_back('\\');
    line.append(escape_name(name));
  } else {
    line.append(name);
  }
  line.append(": ");
  line.append(status);
  line.push_back('\n');
  return line;
}

namespace {

/// The length of the printable UTF-8 character at `s[i]` (a lead byte >= 0x80), or 0 when the bytes
/// there are not a valid, complete, printable sequence (each such byte is then escaped alone).
std::size_t printable_utf8_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1fu;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0fu;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const unsigned char c = byte(i + k);
    if ((c & 0xc0) != 0x80) return 0;
    code = (code << 6) | (c & 0x3fu);
  }
  const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  if (code <= 0x9f || code == 0x2028 || code == 0x2029) return 0;  // C1 controls, line/paragraph separators
  return length;
}

/// The letter of a control character's C escape (\a \b \f \n \r \t \v), or 0.
char control_letter(char c) {
  switch (c) {
    case '\a':
      return 'a';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\v':
      return 'v';
    default:
      return 0;
  }
}

bool always_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("%+,-./]_").find(c) != std::string_view::npos;
}

bool shell_special(char c) {
  return std::string_view("!\"$&()*;<=>[^`|?\\").find(c) != std::string_view::npos;
}

/// Whether `name` can be printed as it is (nothing a shell would read differently).
bool plain(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size();) {
    const char c = name[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t n = printable_utf8_length(name, i);
      if (n == 0) return false;
      i += n;
      continue;
    }
    if (u < 0x20 || u == 0x7f || c == ' ' || c == '\'' || c == ':' || shell_special(c)) return false;
    if ((c == '#' || c == '~') && i == 0) return false;
    if ((c == '{' || c == '}') && name.size() == 1) return false;
    ++i;
  }
  return true;
}

/// One pass of the single-quoted form, without its closing quote. `in_dollar` says whether a $'...'
/// piece is open; it carries over into a second pass (see quote_name). Sets `single_quote` when the
/// name holds one, clears `compatible` when a double-quoted form could not hold the name as is.
std::string single_quoted(std::string_view name, bool& in_dollar, bool& single_quote, bool& compatible) {
  std::string out = "'";
  const auto escaped = [&](std::string_view piece) {
    if (!in_dollar) {
      out += "'$'";
      in_dollar = true;
    }
    out += '\\';
    out += piece;
    compatible = false;
  };
  const auto literal = [&](std::string_view piece, bool compat) {
    if (in_dollar) {
      out += "''";
      in_dollar = false;
    }
    out += piece;
    if (!compat) compatible = false;
  };
  for (std::size_t i = 0; i < name.size();) {
    const char c = name[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      if (const std::size_t n = printable_utf8_length(name, i); n > 0) {
        literal(name.substr(i, n), true);
        i += n;
        continue;
      }
    }
    if (const char letter = control_letter(c); letter != 0) {
      escaped(std::string_view(&letter, 1));
    } else if (u < 0x20 || u >= 0x7f) {
      const char octal[] = {static_cast<char>('0' + (u >> 6)), static_cast<char>('0' + ((u >> 3) & 7)),
                            static_cast<char>('0' + (u & 7))};
      escaped(std::string_view(octal, 3));
    } else if (c == '\'') {
      single_quote = true;
      out += "'\\''";
      in_dollar = false;
    } else {
      // '#' and '~' only at the start, '{' and '}' only alone: elsewhere they need no quoting, but
      // gnulib then no longer counts them as fit for double quotes.
      const bool compat = always_safe(c) || c == ':' || c == ' ' || c == '@' ||
                          ((c == '#' || c == '~') && i == 0) || ((c == '{' || c == '}') && name.size() == 1);
      literal(std::string_view(&c, 1), compat);
    }
    ++i;
  }
  return out;
}

}  // namespace

std::string quote_name(std::string_view name) {
  if (plain(name)) return std::string(name);
  bool in_dollar = false;
  bool single_quote = false;
  bool compatible = true;
  std::string out = single_quoted(name, in_dollar, single_quote, compatible);
  if (single_quote) {
    // A single quote and nothing else a double-quoted string would read differently: "it's".
    if (compatible) return "\"" + std::string(name) + "\"";
    // gnulib writes the single-quoted form a second time, starting in the state the first pass
    // ended in: a name that ends inside $'...' begins with '' (sha256sum prints '''a'$'\n'\''b'...).
    bool ignored_quote = false;
    bool ignored_compat = true;
    out = single_quoted(name, in_dollar, ignored_quote, ignored_compat);
  }
  out += '\'';
  return out;
}

}  // namespace checksum
