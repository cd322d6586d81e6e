// SPDX-License-Identifier: MIT
// checksum's command line: parsed strictly (an unknown option or a bad value is an error the
// caller answers with the usage and exit status 2). Pure; no I/O.
//
//   checksum [-r] [--threads N] [PATH...]              print the SHA-256 of each PATH ('-' or
//                                                     none: standard input), as sha256sum does
//   checksum -c [-w] [--quiet|--status] [--strict] [--ignore-missing] [--threads N] [FILE...]
//                                                     check the sums listed in each FILE
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace checksum {

struct options {
  bool recursive = false;       // -r, --recursive: hash the files under directories
  bool check = false;           // -c, --check: the operands are check files
  bool warn = false;            // -w, --warn: warn about each improperly formatted line
  bool quiet = false;           // --quiet: do not print OK lines
  bool status = false;          // --status: print nothing; only the exit status tells
  bool strict = false;          // --strict: improperly formatted lines make the exit status 1
  bool ignore_missing = false;  // --ignore-missing: a listed file that does not exist is skipped
  bool help = false;            // --help
  unsigned threads = 0;         // --threads N: CPU workers hashing (0: one per core)
  std::vector<std::string> paths;
};

struct parsed_options {
  options opts;
  std::string error;  // empty when the command line is valid
};

/// Parses argv[1..]. GNU style: short options may be bundled (-rc is not valid: -r with -c is
/// refused), "--threads N" and "--threads=N", "--" ends the options, "-" alone is an operand.
parsed_options parse_options(const std::vector<std::string_view>& args);

/// The usage text (for --help on stdout, or after an error on stderr).
std::string usage();

}  // namespace checksum
