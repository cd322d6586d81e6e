// SPDX-License-Identifier: MIT
// fuzz_resp: libFuzzer target over kv::resp_parser. Besides "does not crash", it checks:
// - every complete command consumed at least one byte and no more than what was left;
// - its arguments, re-encoded as a multibulk request and parsed again, give the same arguments
//   and consume exactly the encoding (under the default limits: an inline command is limited by
//   its length only, so it may hold more arguments than max_args);
// - feeding the same input in two pieces (cut where the fuzzer's first byte says) gives the same
//   commands and the same outcome as feeding it whole (the parser is incremental).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct outcome {
  std::vector<std::vector<std::string>> commands;
  kv::parse_status last = kv::parse_status::incomplete;
  std::string error;
};

kv::parser_limits small_limits() {
  return kv::parser_limits{.max_args = 64, .max_bulk = 4096, .max_inline = 1024};
}

/// Parses `input` as a connection would receive it: the first `cut` bytes, then the rest.
outcome run(std::string_view input, std::size_t cut) {
  outcome o;
  kv::resp_parser parser(small_limits());
  std::size_t begin = 0;
  std::size_t end = std::min(cut, input.size());
  for (;;) {
    const std::string_view data = input.substr(begin, end - begin);
    const kv::parse_status st = parser.parse(data);
    if (st == kv::parse_status::complete) {
      check(parser.consumed() > 0 && parser.consumed() <= data.size());
      std::vector<std::string> args;
      for (std::string_view a : parser.args()) args.emplace_back(a);
      o.commands.push_back(std::move(args));
      begin += parser.consumed();
      continue;
    }
    if (st == kv::parse_status::error) {
      o.last = st;
      o.error = parser.error();
      check(o.error.rfind("Protocol error: ", 0) == 0);
      return o;
    }
    if (end == input.size()) return o;
    end = input.size();  // the second piece arrives
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut = bytes[0] % (size + 1);
  const std::string_view input(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  const outcome whole = run(input, input.size());
  const outcome pieces = run(input, cut);
  check(whole.commands == pieces.commands);
  check(whole.last == pieces.last && whole.error == pieces.error);
  for (const auto& args : whole.commands) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string encoded;
    kv::encode_command(encoded, views);
    // Default limits: an inline command (up to max_inline bytes) may have more arguments than
    // the small max_args, as in Redis; its multibulk form must still parse.
    kv::resp_parser again;
    const kv::parse_status st = again.parse(encoded);
    if (args.empty()) {
      check(st == kv::parse_status::complete && again.args().empty());
      continue;
    }
    check(st == kv::parse_status::complete);
    check(again.consumed() == encoded.size());
    check(again.args().size() == args.size());
    for (std::size_t i = 0; i < args.size(); ++i) check(again.args()[i] == args[i]);
  }
  return 0;
}
