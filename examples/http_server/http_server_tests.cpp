// SPDX-License-Identifier: MIT
// Unit tests of http_server's pure code: the request parser (complete, incremental, limits, every
// refusal), target paths, byte ranges, Content-Type, If-None-Match. No runtime, no sockets.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "http_util.hpp"
#include "request_parser.hpp"

using namespace std::string_view_literals;

namespace {

struct parsed {
  http::parse_state state;
  int status;
  http::request req;
};

parsed parse(std::string_view text, http::limits l = {}) {
  http::request_parser p(l);
  parsed out{};
  out.state = p.parse(text, out.req);
  out.status = p.error_status();
  return out;
}

int status_of(std::string_view text, http::limits l = {}) {
  const parsed r = parse(text, l);
  REQUIRE(r.state == http::parse_state::failed);
  return r.status;
}

}  // namespace

TEST_CASE("a complete GET parses into method, target, version and fields") {
  const std::string text =
      "GET /a/b.html?x=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\nIf-None-Match: \"e\"\r\n"
      "Range: bytes=0-9\r\nAccept-Encoding: gzip, br\r\n\r\nNEXT";
  const parsed r = parse(text);
  REQUIRE(r.state == http::parse_state::complete);
  CHECK(r.req.method == "GET");
  CHECK(r.req.target == "/a/b.html?x=1");
  CHECK(r.req.minor_version == 1);
  CHECK(r.req.host == "example");
  CHECK(r.req.if_none_match == "\"e\"");
  CHECK(r.req.range == "bytes=0-9");
  CHECK(r.req.accept_encoding == "gzip, br");
  CHECK(r.req.field_count == 5);
  CHECK(r.req.find("user-agent") == "t");
  CHECK(r.req.keep_alive);
  CHECK(r.req.head_size == text.size() - 4);
}

TEST_CASE("a head fed one byte at a time completes exactly when its empty line arrives") {
  const std::string text = "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  http::request_parser p;
  http::request req;
  for (std::size_t n = 1; n < text.size(); ++n) {
    REQUIRE(p.parse(std::string_view(text).substr(0, n), req) == http::parse_state::need_more);
  }
  REQUIRE(p.parse(text, req) == http::parse_state::complete);
  CHECK(req.method == "HEAD");
  CHECK_FALSE(req.keep_alive);
  CHECK(req.head_size == text.size());
}

TEST_CASE("two pipelined requests parse one after the other after reset") {
  const std::string text = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  http::request_parser p;
  http::request req;
  REQUIRE(p.parse(text, req) == http::parse_state::complete);
  CHECK(req.target == "/1");
  const std::string_view rest = std::string_view(text).substr(req.head_size);
  p.reset();
  REQUIRE(p.parse(rest, req) == http::parse_state::complete);
  CHECK(req.target == "/2");
  CHECK(req.head_size == rest.size());
}

TEST_CASE("empty lines before the request line are skipped") {
  const parsed r = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.state == http::parse_state::complete);
  CHECK(r.req.target == "/");
  CHECK(r.req.head_size == 4 + std::string_view("GET / HTTP/1.1\r\nHost: h\r\n\r\n").size());
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive, and needs no Host") {
  CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
  const parsed r = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  REQUIRE(r.state == http::parse_state::complete);
  CHECK(r.req.keep_alive);
  CHECK(r.req.minor_version == 0);
}

TEST_CASE("field values lose their surrounding spaces and tabs, names match case-insensitively") {
  const parsed r = parse("GET / HTTP/1.1\r\nhOsT:  \t h \t\r\nX-Empty:\r\n\r\n");
  REQUIRE(r.state == http::parse_state::complete);
  CHECK(r.req.host == "h");
  CHECK(r.req.find("x-empty").empty());
  CHECK(r.req.field_count == 2);
}

TEST_CASE("a body length is read from Content-Length; equal repeats are accepted") {
  const parsed r =
      parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello");
  REQUIRE(r.state == http::parse_state::complete);
  CHECK(r.req.content_length == 5);
  CHECK(r.req.method == "POST");  // any token parses: the server answers 405
}

TEST_CASE("malformed request lines give 400") {
  CHECK(status_of("GET\r\n\r\n") == 400);
  CHECK(status_of("GET /\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTX/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/11\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n"sv) == 400);
  CHECK(status_of("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("a bare LF is refused as soon as it arrives") {
  http::request_parser p;
  http::request req;
  CHECK(p.parse("GET / HTTP/1.1\n", req) == http::parse_state::failed);
  CHECK(p.error_status() == 400);
  CHECK(p.parse("GET / HTTP/1.1\n\n", req) == http::parse_state::failed);  // stays failed
}

TEST_CASE("malformed fields give 400") {
  CHECK(status_of("GET / HTTP/1.1\r\nHost h\r\n\r\n") == 400);                 // no colon
  CHECK(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);               // space before colon
  CHECK(status_of("GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n") == 400);         // empty name
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") == 400);  // obs-fold
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n"sv) == 400);            // NUL
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n") == 400);             // lone CR
}

TEST_CASE("Host is required once in HTTP/1.1") {
  CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
}

TEST_CASE("bad or conflicting Content-Length gives 400") {
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400);
}

TEST_CASE("a body over the limit gives 413") {
  http::limits l;
  l.max_body = 100;
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", l) == 413);
  CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", l).state ==
        http::parse_state::complete);
}

TEST_CASE("a head over the limit gives 431, complete or not") {
  const std::string big(9000, 'a');
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + big + "\r\n\r\n") == 431);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + big) == 431);  // never ends
  http::limits l;
  l.max_head_bytes = 64;
  const std::string exact = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(64 - 32, 'a') + "\r\n\r\n";
  REQUIRE(exact.size() == 64);
  CHECK(parse(exact, l).state == http::parse_state::complete);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(64 - 31, 'a') + "\r\n\r\n", l) == 431);
}

TEST_CASE("more fields than the limit give 431") {
  std::string text = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 64; ++i) text += "X: y\r\n";
  CHECK(status_of(text + "\r\n") == 431);
}

TEST_CASE("any Transfer-Encoding is refused with 501") {
  CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
}

TEST_CASE("a version other than 1.0 and 1.1 gives 505") {
  CHECK(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
  CHECK(status_of("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == 505);
}

TEST_CASE("has_token reads comma lists and honours q=0") {
  CHECK(http::has_token("deflate, gzip;q=0.8", "gzip"));
  CHECK(http::has_token("GZIP", "gzip"));
  CHECK_FALSE(http::has_token("gzip;q=0", "gzip"));
  CHECK_FALSE(http::has_token("x-gzip", "gzip"));
  CHECK_FALSE(http::has_token("", "gzip"));
}

TEST_CASE("targets become relative paths; traversal, NUL and bad escapes are refused") {
  CHECK(http::resolve_target("/").path.empty());
  CHECK(http::resolve_target("/").directory);
  CHECK(http::resolve_target("/a/b.txt?q=1").path == "a/b.txt");
  CHECK(http::resolve_target("//a/./b//c").path == "a/b/c");
  CHECK(http::resolve_target("/a%20b").path == "a b");
  CHECK(http::resolve_target("http://host:80/x/y").path == "x/y");
  CHECK(http::resolve_target("/../etc/passwd").status == 403);
  CHECK(http::resolve_target("/a/../../b").status == 403);
  CHECK(http::resolve_target("/%2e%2e/etc/passwd").status == 403);
  CHECK(http::resolve_target("/%2E%2e%2fetc").status == 403);
  CHECK(http::resolve_target("/a%2fb").status == 403);
  CHECK(http::resolve_target("/a%5c..").status == 403);
  CHECK(http::resolve_target("/a%00.txt").status == 403);
  CHECK(http::resolve_target("/a%zz").status == 400);
  CHECK(http::resolve_target("/a%2").status == 400);
  CHECK(http::resolve_target("a/b").status == 400);
  CHECK(http::resolve_target("*").status == 400);
}

TEST_CASE("single byte ranges: a-b, a-, -n, clamped; several or malformed are ignored") {
  using http::byte_range;
  auto r = http::parse_range("bytes=0-9", 100);
  CHECK(r.kind == byte_range::satisfiable);
  CHECK(r.first == 0);
  CHECK(r.last == 9);
  r = http::parse_range("bytes=90-", 100);
  CHECK((r.kind == byte_range::satisfiable && r.first == 90 && r.last == 99));
  r = http::parse_range("bytes=-10", 100);
  CHECK((r.kind == byte_range::satisfiable && r.first == 90 && r.last == 99));
  r = http::parse_range("bytes=-1000", 100);
  CHECK((r.kind == byte_range::satisfiable && r.first == 0 && r.last == 99));
  r = http::parse_range("bytes=50-1000", 100);
  CHECK((r.kind == byte_range::satisfiable && r.last == 99));
  CHECK(http::parse_range("bytes=100-", 100).kind == byte_range::unsatisfiable);
  CHECK(http::parse_range("bytes=-0", 100).kind == byte_range::unsatisfiable);
  CHECK(http::parse_range("bytes=0-", 0).kind == byte_range::unsatisfiable);
  CHECK(http::parse_range("bytes=5-1", 100).kind == byte_range::none);
  CHECK(http::parse_range("bytes=0-1,5-6", 100).kind == byte_range::none);
  CHECK(http::parse_range("items=0-1", 100).kind == byte_range::none);
  CHECK(http::parse_range("bytes=x-1", 100).kind == byte_range::none);
  CHECK(http::parse_range("bytes=-", 100).kind == byte_range::none);
}

TEST_CASE("Content-Type by extension and which types compress") {
  CHECK(http::content_type("a/index.html") == "text/html; charset=utf-8");
  CHECK(http::content_type("x.JSON") == "application/json");
  CHECK(http::content_type("x.png") == "image/png");
  CHECK(http::content_type("noext") == "application/octet-stream");
  CHECK(http::content_type("dir.html/file") == "application/octet-stream");
  CHECK(http::compressible("text/css; charset=utf-8"));
  CHECK(http::compressible("image/svg+xml"));
  CHECK(http::compressible("application/json"));
  CHECK_FALSE(http::compressible("image/png"));
}

TEST_CASE("If-None-Match matches the tag, a list holding it, a weak form of it, or *") {
  CHECK(http::etag_matches("\"abc\"", "\"abc\""));
  CHECK(http::etag_matches("\"x\", W/\"abc\"", "\"abc\""));
  CHECK(http::etag_matches("*", "\"abc\""));
  CHECK_FALSE(http::etag_matches("\"abd\"", "\"abc\""));
  CHECK_FALSE(http::etag_matches("abc", "\"abc\""));
  CHECK_FALSE(http::etag_matches("\"abc", "\"abc\""));
}

TEST_CASE("HTTP dates are IMF-fixdate") {
  CHECK(http::http_date(std::chrono::system_clock::from_time_t(784111777)) ==
        "Sun, 06 Nov 1994 08:49:37 GMT");
}
