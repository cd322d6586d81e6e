// SPDX-License-Identifier: MIT
// libFuzzer target for checksum's -c line parser. The input is a check file: each line goes
// through one parser (its state carries across lines, as in a real file). Besides not crashing:
//   - an entry's digest is 64 hex digits and its name holds no NUL;
//   - an entry's name, written as sha256sum writes it (format_sum_line) and parsed by a fresh
//     parser, comes back the same, with the same digest (a name the one-space rule could make
//     ambiguous, the empty one, is left out: sha256sum cannot write it either);
//   - the line kinds are decided by the line alone apart from the one-space rule: parsing the
//     same line again gives an entry or the same entry whenever the first parse gave one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "check_line.hpp"
#include "format.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool all_hex(std::string_view s) {
  if (s.size() != checksum::sha256_hex_length) return false;
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  checksum::check_parser parser;
  checksum::for_each_line(text, [&](std::string_view line, std::size_t) {
    const checksum::parsed_line parsed = parser.parse(line);
    require(parsed.kind != checksum::line_kind::entry || line.size() >= parsed.entry.name.size());
    if (parsed.kind != checksum::line_kind::entry) return;
    const checksum::check_entry& e = parsed.entry;
    require(all_hex(e.hex));
    require(e.name.find('\0') == std::string::npos);
    // The same line again, in the state the parser is in now, is still an entry with that name.
    const checksum::parsed_line again = parser.parse(line);
    require(again.kind == checksum::line_kind::entry && again.entry == e);
    if (e.name.empty()) return;
    checksum::check_parser fresh;
    const checksum::parsed_line back = fresh.parse(checksum::format_sum_line(e.hex, e.name));
    require(back.kind == checksum::line_kind::entry);
    require(back.entry.name == e.name);
    require(back.entry.hex == e.hex);
  });
  return 0;
}
