// SPDX-License-Identifier: MIT
// checksum's command-line parser (see options.hpp).
#include "options.hpp"

#include <charconv>

namespace checksum {

namespace {

constexpr unsigned max_threads = 1024;

bool parse_threads(std::string_view text, unsigned& out) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > max_threads)
    return false;
  out = value;
  return true;
}

}  // namespace

std::string usage() {
  return "usage: checksum [-r] [--threads N] [PATH...]\n"
         "       checksum -c [-w] [--quiet | --status] [--strict] [--ignore-missing] [--threads N] "
         "[FILE...]\n"
         "Print or check SHA-256 checksums, as sha256sum does; '-' or no PATH: standard input.\n"
         "  -r, --recursive   hash every file under each directory (sorted by path)\n"
         "  -c, --check       read sums from the FILEs and check them\n"
         "  -w, --warn        (with -c) warn about improperly formatted lines\n"
         "      --quiet       (with -c) do not print OK for each verified file\n"
         "      --status      (with -c) print nothing; the exit status shows success\n"
         "      --strict      (with -c) exit 1 on improperly formatted lines\n"
         "      --ignore-missing  (with -c) skip listed files that do not exist\n"
         "      --threads N   CPU threads hashing (default: one per core)\n"
         "      --help        print this and exit\n";
}

parsed_options parse_options(const std::vector<std::string_view>& args) {
  parsed_options out;
  options& o = out.opts;
  const auto fail = [&](std::string message) {
    out.error = std::move(message);
    return out;
  };
  bool operands_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (operands_only || a == "-" || a.empty() || a[0] != '-') {
      o.paths.emplace_back(a);
      continue;
    }
    if (a == "--") {
      operands_only = true;
      continue;
    }
    if (a.starts_with("--")) {
      const std::string_view name = a.substr(0, a.find('='));
      const bool has_value = name.size() != a.size();
      if (name == "--threads") {
        std::string_view value;
        if (has_value) {
          value = a.substr(name.size() + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return fail("option '--threads' needs a value");
        }
        if (!parse_threads(value, o.threads)) {
          return fail("invalid --threads value '" + std::string(value) + "' (1 to 1024)");
        }
        continue;
      }
      if (has_value) return fail("option '" + std::string(name) + "' takes no value");
      if (a == "--recursive") {
        o.recursive = true;
      } else if (a == "--check") {
        o.check = true;
      } else if (a == "--warn") {
        o.warn = true;
      } else if (a == "--quiet") {
        o.quiet = true;
      } else if (a == "--status") {
        o.status = true;
      } else if (a == "--strict") {
        o.strict = true;
      } else if (a == "--ignore-missing") {
        o.ignore_missing = true;
      } else if (a == "--help") {
        o.help = true;
      } else {
        return fail("unrecognized option '" + std::string(a) + "'");
      }
      continue;
    }
    for (const char c : a.substr(1)) {
      switch (c) {
        case 'r':
          o.recursive = true;
          break;
        case 'c':
          o.check = true;
          break;
        case 'w':
          o.warn = true;
          break;
        default:
          return fail(std::string("invalid option -- '") + c + "'");
      }
    }
  }
  if (o.help) return out;
  if (o.recursive && o.check) return fail("-r cannot be used with -c");
  if (!o.check && (o.warn || o.quiet || o.status || o.strict || o.ignore_missing)) {
    return fail("--warn, --quiet, --status, --strict and --ignore-missing are meaningful only with -c");
  }
  if (o.paths.empty()) o.paths.emplace_back("-");
  return out;
}

}  // namespace checksum
