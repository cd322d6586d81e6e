// SPDX-License-Identifier: MIT
// fuzz_http_request: libFuzzer target over http::request_parser and http::resolve_target.
//
// Invariants checked (a violation aborts): the whole input parsed at once and the same input fed
// in two pieces give the same state and status; a complete head lies within the input, every view
// points into it, and the request written back out (request line, fields, empty line) parses
// again to the same method, target, version, fields, length and keep-alive; a target that
// resolves gives a path without "..", NUL or empty segments.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http_util.hpp"
#include "request_parser.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::string serialize(const http::request& r) {
  std::string out;
  out.append(r.method).append(" ").append(r.target).append(" HTTP/1.").append(1, char('0' + r.minor_version));
  out += "\r\n";
  for (const http::header& h : r.headers()) out.append(h.name).append(": ").append(h.value).append("\r\n");
  out += "\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  http::limits l;
  l.max_head_bytes = 2048;  // reachable by the fuzzer
  l.max_body = 1000;

  http::request_parser whole(l);
  http::request req;
  const http::parse_state state = whole.parse(input, req);

  // Fed in two pieces (split where the first byte says), the parser must come to the same end:
  // a head that ends in the first piece ends there in the whole input too.
  http::request_parser pieces(l);
  http::request again;
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  http::parse_state in_pieces = pieces.parse(input.substr(0, split), again);
  if (in_pieces == http::parse_state::need_more) in_pieces = pieces.parse(input, again);
  check(in_pieces == state);
  check(whole.error_status() == pieces.error_status());
  if (state == http::parse_state::failed) {
    const int s = whole.error_status();
    check(s == 400 || s == 413 || s == 431 || s == 501 || s == 505);
  }
  if (state != http::parse_state::complete) return 0;

  check(req.head_size <= size);
  check(req.head_size == again.head_size);
  check(inside(req.method, input) && inside(req.target, input));
  for (const http::header& h : req.headers()) check(inside(h.name, input) && inside(h.value, input));
  check(req.content_length <= l.max_body);

  // Written back out, it parses to the same request.
  const std::string text = serialize(req);
  if (text.size() <= l.max_head_bytes) {
    http::request_parser p2(l);
    http::request back;
    check(p2.parse(text, back) == http::parse_state::complete);
    check(back.head_size == text.size());
    check(back.method == req.method && back.target == req.target && back.minor_version == req.minor_version);
    check(back.field_count == req.field_count);
    for (std::size_t i = 0; i < req.field_count; ++i) {
      check(back.fields[i].name == req.fields[i].name && back.fields[i].value == req.fields[i].value);
    }
    check(back.content_length == req.content_length && back.keep_alive == req.keep_alive);
    check(back.host == req.host && back.range == req.range);
  }

  // The target's path never escapes.
  const http::target_path t = http::resolve_target(req.target);
  if (t.status == 0) {
    const std::string& p = t.path;
    check(p.find('\0') == std::string::npos);
    check(p.empty() || (p.front() != '/' && p.back() != '/' && p.find("//") == std::string::npos));
    std::string_view rest = p;
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      check(seg != ".." && seg != "." && !seg.empty());
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    }
  }
  // Ranges stay within the representation.
  const http::byte_range r = http::parse_range(req.range, 1000);
  if (r.kind == http::byte_range::satisfiable) check(r.first <= r.last && r.last < 1000);
  return 0;
}
