// SPDX-License-Identifier: MIT
// The parser of `checksum -c`'s input: the lines sha256sum -c accepts (coreutils 9.1), and only those.
//
//   <64 hex> <space or *><name>        what sha256sum writes ("  " text mode, " *" binary mode)
//   \<64 hex>  <escaped name>          a name with \\, \n or \r escapes
//   SHA256 (<name>) = <64 hex>         BSD style (also "SHA256(<name>)= <hex>"; \ prefix: escaped)
//   <64 hex> <name>                    BSD `-r` style: one space; allowed only while no line of
//                                      the first form was seen in this file, and then the first
//                                      form's lines keep their leading space or star in the name
// Leading blanks (space, tab) are skipped, hex digits may be upper case, a line starting with '#'
// and an empty line are ignored, and a trailing "\n" or "\r\n" is not part of the line. A name
// ends at an embedded NUL byte (escaped names may not hold one).
//
// check_parser keeps the one piece of state sha256sum keeps across the lines of one file (which
// form of the two hex-first ones it saw first): use one parser per file, from one thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace checksum {

/// The characters of a SHA-256 digest in hexadecimal.
inline constexpr std::size_t sha256_hex_length = 64;

struct check_entry {
  std::string hex;      // sha256_hex_length hex digits, as written (either case)
  std::string name;     // unescaped; never holds a NUL byte
  bool binary = false;  // written as " *name" (makes no difference on Linux)

  friend bool operator==(const check_entry&, const check_entry&) = default;
};

enum class line_kind {
  ignored,    // a comment ('#' first) or an empty line
  entry,      // a checksum line: see parsed_line::entry
  malformed,  // "improperly formatted" (counted, and warned about with -w)
};

struct parsed_line {
  line_kind kind = line_kind::ignored;
  check_entry entry;  // set when kind == line_kind::entry
};

class check_parser {
 public:
  /// Parses one line of a check file. `line` may still end in "\n" or "\r\n" (they are dropped).
  parsed_line parse(std::string_view line);

 private:
  enum class reversed { unknown, no, yes };
  reversed bsd_reversed_ = reversed::unknown;
};

/// Whether `expected` (hex digits of either case) spells the digest `actual_hex` (lower case).
bool hex_equal(std::string_view expected, std::string_view actual_hex);

/// Splits `text` into lines as getline(3) does: each piece ends after a '\n' (the last may lack
/// it); calls `fn(line, number)` with the line (still holding its '\n') and its 1-based number.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::size_t length = end == std::string_view::npos ? text.size() : end + 1;
    fn(text.substr(0, length), ++number);
    text.remove_prefix(length);
  }
}

}  // namespace checksum
