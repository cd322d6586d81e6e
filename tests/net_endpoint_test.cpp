// SPDX-License-Identifier: MIT
// Tests for coring::net::endpoint (include/coring/net/endpoint.hpp) and its Asio conversions.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <system_error>
#include <unordered_set>

#include "coring/net/asio_endpoint.hpp"
#include "coring/net/endpoint.hpp"

namespace {

using coring::net::endpoint;

const std::error_code invalid_argument = std::make_error_code(std::errc::invalid_argument);

sockaddr_in6 load_v6(const endpoint& e) {
  sockaddr_in6 out{};
  std::memcpy(&out, e.data(), sizeof out);
  return out;
}

sockaddr_in load_v4(const endpoint& e) {
  sockaddr_in out{};
  std::memcpy(&out, e.data(), sizeof out);
  return out;
}

}  // namespace

TEST_CASE("a default-constructed endpoint is IPv4 0.0.0.0 port 0") {
  const endpoint e;
  CHECK(e.is_v4());
  CHECK_FALSE(e.is_v6());
  CHECK(e.family() == AF_INET);
  CHECK(e.size() == sizeof(sockaddr_in));
  CHECK(e.port() == 0);
  CHECK(e.address_string() == "0.0.0.0");
  CHECK(e.to_string() == "0.0.0.0:0");
  CHECK(e == endpoint::any_v4(0));
}

TEST_CASE("parse accepts a dotted IPv4 address with a port") {
  const auto r = endpoint::parse("127.0.0.1:8080");
  REQUIRE(r);
  CHECK(r->is_v4());
  CHECK(r->family() == AF_INET);
  CHECK(r->size() == sizeof(sockaddr_in));
  CHECK(r->port() == 8080);
  CHECK(r->address_string() == "127.0.0.1");
  CHECK(*r == endpoint::loopback_v4(8080));
  const auto sin = load_v4(*r);
  CHECK(sin.sin_family == AF_INET);
  CHECK(ntohs(sin.sin_port) == 8080);
  CHECK(ntohl(sin.sin_addr.s_addr) == INADDR_LOOPBACK);
}

TEST_CASE("parse accepts the IPv4 wildcard with port 0") {
  const auto r = endpoint::parse("0.0.0.0:0");
  REQUIRE(r);
  CHECK(*r == endpoint{});
  CHECK(*r == endpoint::any_v4(0));
}

TEST_CASE("parse accepts the highest port and leading zeros in the port") {
  const auto high = endpoint::parse("10.1.2.3:65535");
  REQUIRE(high);
  CHECK(high->port() == 65535);
  CHECK(*high == endpoint::v4({10, 1, 2, 3}, 65535));
  const auto zeros = endpoint::parse("10.1.2.3:00080");
  REQUIRE(zeros);
  CHECK(zeros->port() == 80);
}

TEST_CASE("parse accepts bracketed IPv6 with a port") {
  const auto r = endpoint::parse("[::1]:8080");
  REQUIRE(r);
  CHECK(r->is_v6());
  CHECK_FALSE(r->is_v4());
  CHECK(r->family() == AF_INET6);
  CHECK(r->size() == sizeof(sockaddr_in6));
  CHECK(r->port() == 8080);
  CHECK(r->scope_id() == 0);
  CHECK(r->address_string() == "::1");
  CHECK(*r == endpoint::loopback_v6(8080));
  const auto sin6 = load_v6(*r);
  CHECK(sin6.sin6_family == AF_INET6);
  CHECK(IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr));
}

TEST_CASE("parse accepts the IPv6 wildcard and a full IPv6 address") {
  const auto any = endpoint::parse("[::]:0");
  REQUIRE(any);
  CHECK(*any == endpoint::any_v6(0));
  const auto full = endpoint::parse("[2001:db8:0:0:0:0:0:1]:443");
  REQUIRE(full);
  CHECK(full->address_string() == "2001:db8::1");
  CHECK(*full == endpoint::v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 443));
}

TEST_CASE("parse accepts an IPv4-mapped IPv6 address in brackets") {
  const auto r = endpoint::parse("[::ffff:192.0.2.1]:53");
  REQUIRE(r);
  CHECK(r->is_v6());
  CHECK(*r == endpoint::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}, 53));
}

TEST_CASE("parse accepts an IPv6 scope given as an interface name") {
  const unsigned lo = ::if_nametoindex("lo");
  if (lo == 0) {
    MESSAGE("no interface named lo here; skipping");
    return;
  }
  const auto r = endpoint::parse("[fe80::1%lo]:80");
  REQUIRE(r);
  CHECK(r->is_v6());
  CHECK(r->port() == 80);
  CHECK(r->scope_id() == lo);
  CHECK(load_v6(*r).sin6_scope_id == lo);
  CHECK(r->address_string() == "fe80::1%" + std::to_string(lo));
}

TEST_CASE("parse accepts an IPv6 scope given as a number") {
  const auto r = endpoint::parse("[fe80::1%7]:80");
  REQUIRE(r);
  CHECK(r->scope_id() == 7);
  CHECK(r->address_string() == "fe80::1%7");
  CHECK(r->to_string() == "[fe80::1%7]:80");
  CHECK(*r == endpoint::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80, 7));
}

TEST_CASE("parse rejects malformed text with invalid_argument") {
  const char* const bad[] = {
      "",                                          // nothing
      "127.0.0.1",                                 // missing port
      "127.0.0.1:",                                // empty port
      "[::1]",                                     // missing port (IPv6)
      "[::1]:",                                    // empty port (IPv6)
      "127.0.0.1:65536",                           // port > 65535
      "127.0.0.1:99999999999999999999",            // port overflows any integer
      "[::1]:70000",                               // port > 65535 (IPv6)
      "127.0.0.1:80a",                             // non-digit in port
      "127.0.0.1:0x50",                            // hex port
      "127.0.0.1:8.0",                             // non-digit in port
      "127.0.0.1:+80",                             // leading '+'
      "127.0.0.1:-80",                             // leading '-'
      "[::1]:-1",                                  // leading '-' (IPv6)
      ":80",                                       // empty host
      "[]:80",                                     // empty host (IPv6)
      "::1:80",                                    // IPv6 without brackets
      "fe80::1:80",                                // IPv6 without brackets
      "::1",                                       // IPv6 without brackets or port
      "garbage",                                   // garbage
      "not.an.ip.addr:80",                         // garbage host
      "localhost:80",                              // would need DNS
      "example.com:443",                           // would need DNS
      "256.0.0.1:80",                              // octet out of range
      "1.2.3:80",                                  // too few octets
      "1.2.3.4.5:80",                              // too many octets
      "127.0.0.1:80x",                             // trailing characters
      "127.0.0.1:80:90",                           // trailing characters
      "[::1]:80]",                                 // trailing characters
      "[::1]x:80",                                 // garbage between ']' and ':'
      "[::1]80",                                   // no ':' after ']'
      "[::1:80",                                   // unclosed bracket
      "::1]:80",                                   // no opening bracket
      "[[::1]]:80",                                // nested brackets
      "[127.0.0.1]:80",                            // IPv4 in brackets
      " 127.0.0.1:80",                             // leading space
      "127.0.0.1:80 ",                             // trailing space
      "127.0.0.1 :80",                             // space before ':'
      "127.0.0.1: 80",                             // space before the port
      "[ ::1]:80",                                 // space inside brackets
      "127.0.0.1:\t80",                            // tab
      "[fe80::1%]:80",                             // empty scope
      "[fe80::1%no-such-if0]:80",                  // unknown interface
      "[fe80::1%thisnameiswaytoolongforanif]:80",  // interface name too long
      "[fe80::1%99999999999]:80",                  // scope number overflows 32 bits
      "[fe80::1%lo%lo]:80",                        // two scopes
      "[gggg::1]:80",                              // not hex
  };
  for (const char* text : bad) {
    CAPTURE(text);
    const auto r = endpoint::parse(text);
    CHECK_FALSE(r);
    CHECK(r.error() == invalid_argument);
    CHECK(r.error() == std::errc::invalid_argument);
  }
}

TEST_CASE("parse rejects an embedded NUL and non-ASCII bytes") {
  using namespace std::string_view_literals;
  const std::string_view nul = "1.2.3.4\0garbage:80"sv;
  CHECK(endpoint::parse(nul).error() == invalid_argument);
  const std::string_view nul_port = "1.2.3.4:80\0"sv;
  CHECK(endpoint::parse(nul_port).error() == invalid_argument);
  CHECK(endpoint::parse("1.2.3.4:8\xd9\xa0").error() == invalid_argument);
}

TEST_CASE("a rejected parse throws system_error from value() and does not crash") {
  const auto r = endpoint::parse("nope");
  CHECK_THROWS_AS((void)r.value(), std::system_error);
}

TEST_CASE("to_string and parse round-trip") {
  const endpoint samples[] = {
      endpoint{},
      endpoint::loopback_v4(1),
      endpoint::any_v4(65535),
      endpoint::v4({192, 168, 1, 254}, 8080),
      endpoint::loopback_v6(443),
      endpoint::any_v6(0),
      endpoint::v6({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6}, 12345),
      endpoint::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80, 3),
      endpoint::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}, 22),
  };
  for (const auto& e : samples) {
    const std::string text = e.to_string();
    CAPTURE(text);
    const auto back = endpoint::parse(text);
    REQUIRE(back);
    CHECK(*back == e);
    CHECK(back->to_string() == text);
  }
  CHECK(endpoint::v4({192, 168, 1, 254}, 8080).to_string() == "192.168.1.254:8080");
  CHECK(endpoint::loopback_v6(443).to_string() == "[::1]:443");
  CHECK(endpoint::any_v6(0).to_string() == "[::]:0");
}

TEST_CASE("the factories build the expected addresses") {
  CHECK(endpoint::loopback_v4(5).to_string() == "127.0.0.1:5");
  CHECK(endpoint::any_v4(6).to_string() == "0.0.0.0:6");
  CHECK(endpoint::loopback_v6(7).to_string() == "[::1]:7");
  CHECK(endpoint::any_v6(8).to_string() == "[::]:8");
  CHECK(endpoint::v6({}, 9, 4).scope_id() == 4);
  CHECK(endpoint::v4({1, 2, 3, 4}, 9).scope_id() == 0);
  CHECK(endpoint::any_v6(0).is_v6());
  CHECK(endpoint::any_v4(0).is_v4());
}

TEST_CASE("set_port changes only the port, for both families") {
  auto a = endpoint::v4({10, 0, 0, 1}, 1);
  a.set_port(65535);
  CHECK(a.port() == 65535);
  CHECK(a.address_string() == "10.0.0.1");
  CHECK(ntohs(load_v4(a).sin_port) == 65535);
  CHECK(a == endpoint::v4({10, 0, 0, 1}, 65535));

  auto b = endpoint::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 1, 2);
  b.set_port(4242);
  CHECK(b.port() == 4242);
  CHECK(b.scope_id() == 2);
  CHECK(b.to_string() == "[fe80::1%2]:4242");
  b.set_port(0);
  CHECK(b.port() == 0);
}

TEST_CASE("equality compares family, address, port and scope id") {
  CHECK(endpoint::loopback_v4(80) == endpoint::v4({127, 0, 0, 1}, 80));
  CHECK(endpoint::loopback_v4(80) != endpoint::loopback_v4(81));
  CHECK(endpoint::loopback_v4(80) != endpoint::v4({127, 0, 0, 2}, 80));
  CHECK(endpoint::any_v4(0) != endpoint::any_v6(0));
  CHECK(endpoint::loopback_v6(80) != endpoint::loopback_v6(81));
  CHECK(endpoint::v6({}, 80, 1) != endpoint::v6({}, 80, 2));
  CHECK(endpoint::v6({}, 80, 1) == endpoint::v6({}, 80, 1));
  // IPv4-mapped IPv6 is a different endpoint from the IPv4 one.
  CHECK(endpoint::parse("[::ffff:127.0.0.1]:80").value() != endpoint::loopback_v4(80));

  // Copies are equal and independent.
  auto a = endpoint::loopback_v6(1);
  const endpoint b = a;
  CHECK(a == b);
  a.set_port(2);
  CHECK(a != b);
  CHECK(b.port() == 1);
}

TEST_CASE("equal endpoints hash equally and unordered containers work") {
  const std::hash<endpoint> h;
  CHECK(h(endpoint::loopback_v4(80)) == h(endpoint::parse("127.0.0.1:80").value()));
  CHECK(h(endpoint::loopback_v6(80)) == h(endpoint::parse("[::1]:80").value()));
  CHECK(h(endpoint{}) == h(endpoint::any_v4(0)));

  // Flow info is ignored by == and so by the hash.
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(80);
  sin6.sin6_addr = in6addr_loopback;
  sin6.sin6_flowinfo = htonl(0x12345);
  const auto with_flow = endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
  REQUIRE(with_flow);
  CHECK(*with_flow == endpoint::loopback_v6(80));
  CHECK(h(*with_flow) == h(endpoint::loopback_v6(80)));

  std::unordered_set<endpoint> set;
  set.insert(endpoint::loopback_v4(80));
  set.insert(endpoint::parse("127.0.0.1:80").value());
  set.insert(endpoint::loopback_v4(81));
  set.insert(endpoint::loopback_v6(80));
  set.insert(endpoint::v6({}, 80, 1));
  set.insert(endpoint::v6({}, 80, 2));
  CHECK(set.size() == 5);
  CHECK(set.count(endpoint::parse("[::1]:80").value()) == 1);
  // Distinct endpoints usually hash differently.
  CHECK(h(endpoint::loopback_v4(80)) != h(endpoint::loopback_v4(81)));
  CHECK(h(endpoint::any_v4(0)) != h(endpoint::any_v6(0)));
}

TEST_CASE("from_sockaddr copies IPv4 and IPv6 addresses") {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(1234);
  sin.sin_addr.s_addr = htonl(0x0a000001);
  std::memset(sin.sin_zero, 0xab, sizeof sin.sin_zero);  // padding garbage is ignored
  const auto a = endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  REQUIRE(a);
  CHECK(*a == endpoint::v4({10, 0, 0, 1}, 1234));
  CHECK(a->size() == sizeof sin);

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(4321);
  sin6.sin6_addr = in6addr_loopback;
  sin6.sin6_scope_id = 9;
  const auto b = endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
  REQUIRE(b);
  CHECK(b->to_string() == "[::1%9]:4321");
  CHECK(std::memcmp(b->data(), &sin6, sizeof sin6) == 0);

  // A larger buffer (sockaddr_storage) is fine.
  sockaddr_storage ss{};
  std::memcpy(&ss, &sin6, sizeof sin6);
  const auto c = endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof ss);
  REQUIRE(c);
  CHECK(*c == *b);
}

TEST_CASE("from_sockaddr rejects other families and short lengths") {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  const auto unix_family = endpoint::from_sockaddr(sa, sizeof ss);
  CHECK_FALSE(unix_family);
  CHECK(unix_family.error() == std::errc::address_family_not_supported);

  ss.ss_family = AF_UNSPEC;
  CHECK(endpoint::from_sockaddr(sa, sizeof ss).error() == std::errc::address_family_not_supported);

  ss.ss_family = AF_INET;
  CHECK(endpoint::from_sockaddr(sa, sizeof(sockaddr_in) - 1).error() == std::errc::invalid_argument);
  CHECK(endpoint::from_sockaddr(sa, sizeof(sockaddr_in)));  // exact length is enough
  ss.ss_family = AF_INET6;
  CHECK(endpoint::from_sockaddr(sa, sizeof(sockaddr_in)).error() == std::errc::invalid_argument);
  CHECK(endpoint::from_sockaddr(sa, sizeof(sockaddr_in6) - 1).error() == std::errc::invalid_argument);
  CHECK(endpoint::from_sockaddr(sa, 0).error() == std::errc::invalid_argument);
  CHECK(endpoint::from_sockaddr(sa, 1).error() == std::errc::invalid_argument);
  CHECK(endpoint::from_sockaddr(nullptr, sizeof ss).error() == std::errc::invalid_argument);
}

TEST_CASE("data can be filled in by the kernel through getsockname") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  auto bind_to = endpoint::loopback_v4(0);
  REQUIRE(::bind(fd, bind_to.data(), bind_to.size()) == 0);
  endpoint bound = endpoint::any_v6(0);  // a different family to start with
  socklen_t len = endpoint::capacity();
  REQUIRE(::getsockname(fd, bound.data(), &len) == 0);
  ::close(fd);
  CHECK(len == sizeof(sockaddr_in));
  CHECK(bound.is_v4());
  CHECK(bound.size() == len);
  CHECK(bound.address_string() == "127.0.0.1");
  CHECK(bound.port() != 0);
}

TEST_CASE("an endpoint whose data holds another family stays safe") {
  endpoint e;
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  std::memcpy(e.data(), &ss, endpoint::capacity());
  CHECK_FALSE(e.is_v4());
  CHECK_FALSE(e.is_v6());
  CHECK(e.family() == AF_UNIX);
  CHECK(e.port() == 0);
  e.set_port(80);
  CHECK(e.port() == 0);
  CHECK(e.size() == endpoint::capacity());
  CHECK(e.address_string().empty());
  CHECK(e.to_string().empty());
  CHECK(e == e);
  CHECK(e != endpoint{});
  CHECK(std::hash<endpoint>{}(e) == std::hash<endpoint>{}(endpoint(e)));
  CHECK(coring::net::to_asio(e) == asio::ip::tcp::endpoint{});
}

TEST_CASE("an IPv4 endpoint converts to and from an Asio endpoint") {
  const auto e = endpoint::v4({192, 168, 0, 7}, 8080);
  const asio::ip::tcp::endpoint a = coring::net::to_asio(e);
  CHECK(a.address().is_v4());
  CHECK(a.address().to_string() == "192.168.0.7");
  CHECK(a.port() == 8080);
  CHECK(a == asio::ip::tcp::endpoint(asio::ip::make_address("192.168.0.7"), 8080));

  const asio::ip::tcp::endpoint from(asio::ip::address_v4::loopback(), 443);
  const endpoint back = coring::net::from_asio(from);
  CHECK(back == endpoint::loopback_v4(443));
  CHECK(coring::net::from_asio(coring::net::to_asio(e)) == e);
}

TEST_CASE("an IPv6 endpoint converts to and from an Asio endpoint, scope id included") {
  const auto e = endpoint::parse("[fe80::1%5]:9000").value();
  const asio::ip::tcp::endpoint a = coring::net::to_asio(e);
  REQUIRE(a.address().is_v6());
  CHECK(a.port() == 9000);
  CHECK(a.address().to_v6().scope_id() == 5);
  CHECK(a.address().to_v6() == asio::ip::make_address_v6("fe80::1%5"));

  const asio::ip::tcp::endpoint from(asio::ip::address_v6::loopback(), 22);
  CHECK(coring::net::from_asio(from) == endpoint::loopback_v6(22));
  const asio::ip::tcp::endpoint any6(asio::ip::tcp::v6(), 0);
  CHECK(coring::net::from_asio(any6) == endpoint::any_v6(0));
  CHECK(coring::net::from_asio(coring::net::to_asio(e)) == e);
  CHECK(coring::net::from_asio(a).to_string() == "[fe80::1%5]:9000");
}
