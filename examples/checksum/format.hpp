// SPDX-License-Identifier: MIT
// checksum's output formats, byte for byte those of GNU coreutils' sha256sum (9.1, Debian 12):
// the checksum line, the `-c` status line, and the quoting of names in diagnostics.
//
// Pure functions over bytes (names are byte strings, not necessarily UTF-8): no state, no
// allocation beyond the returned string, safe from any thread. No coring, no OpenSSL.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace checksum {

/// Lower-case hexadecimal of `bytes` (64 characters for a SHA-256 digest).
std::string to_hex(std::span<const unsigned char> bytes);

/// Whether a checksum line must escape `name`: it holds a backslash, a newline or a carriage
/// return. Such a line starts with a backslash.
bool needs_escape(std::string_view name);

/// `name` with `\` as `\\`, newline as `\n` and carriage return as `\r` (every other byte as is).
std::string escape_name(std::string_view name);

/// One line of sha256sum's output: `<hex>  <name>\n`, or `\<hex>  <escaped name>\n` when
/// needs_escape(name).
std::string format_sum_line(std::string_view hex, std::string_view name);

/// One line of `sha256sum -c`'s output: `<name>: <status>\n` (status "OK", "FAILED", "FAILED open
/// or read"). Escaped (leading backslash, as escape_name) only when the name holds a newline: that
/// is sha256sum -c's rule, which leaves a lone backslash as it is.
std::string format_check_line(std::string_view name, std::string_view status);

/// `name` as GNU tools quote a file name in a diagnostic (gnulib's quotef: the shell-escape quoting
/// style, colons quoted too): as is when nothing in it needs quoting, else in single quotes, with
/// control and non-printable bytes as $'\n' / $'\ooo' pieces, or in double quotes when a single
/// quote is its only trouble. `checksum: <quote_name(path)>: No such file or directory`.
/// Printability of non-ASCII characters follows C.UTF-8 approximately (valid UTF-8 is printable
/// except U+0080..U+009F, U+2028 and U+2029).
std::string quote_name(std::string_view name);

}  // namespace checksum
