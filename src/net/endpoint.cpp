// SPDX-License-Identifier: MIT
// coring::net::endpoint: parsing, formatting and field access. All reads and writes of the
// sockaddr_in / sockaddr_in6 inside the endpoint's byte storage go through memcpy, so nothing here
// depends on the storage's dynamic type or on what the kernel last wrote into data().
#include "coring/net/endpoint.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <optional>

namespace coring::net {

namespace {

static_assert(sizeof(sockaddr_in6) == endpoint::capacity(), "endpoint storage must be sockaddr_in6-sized");
static_assert(sizeof(sockaddr_in) <= endpoint::capacity());
static_assert(alignof(sockaddr_in6) <= alignof(std::uint32_t));
static_assert(alignof(sockaddr_in) <= alignof(std::uint32_t));
static_assert(alignof(sockaddr) <= alignof(std::uint32_t));

constexpr std::uint16_t max_port = 65535;

std::error_code invalid() noexcept {
  return std::make_error_code(std::errc::invalid_argument);
}

template <class T>
T load(const sockaddr* sa) noexcept {
  T out;
  std::memcpy(&out, sa, sizeof out);
  return out;
}

template <class T>
void store(sockaddr* sa, const T& value) noexcept {
  std::memset(sa, 0, endpoint::capacity());
  std::memcpy(sa, &value, sizeof value);
}

sa_family_t family_of(const void* sa) noexcept {
  sa_family_t f;
  std::memcpy(&f, static_cast<const std::byte*>(sa) + offsetof(sockaddr, sa_family), sizeof f);
  return f;
}

bool is_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Digits only (no sign, no spaces), at most 65535; leading zeros are fine.
std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  if (!is_digits(s)) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > max_port) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// inet_pton needs a NUL-terminated string; anything longer than the buffer is no address.
template <std::size_t N>
bool copy_cstr(std::string_view s, char (&buf)[N]) noexcept {
  if (s.size() >= N) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return true;
}

result<endpoint> parse_v4_host(std::string_view host, std::uint16_t port) {
  char buf[INET_ADDRSTRLEN];
  std::array<std::uint8_t, 4> addr{};
  if (!copy_cstr(host, buf) || ::inet_pton(AF_INET, buf, addr.data()) != 1) return invalid();
  return endpoint::v4(addr, port);
}

// "addr" or "addr%zone", the zone an interface name or an interface index.
result<endpoint> parse_v6_host(std::string_view host, std::uint16_t port) {
  std::string_view addr_text = host;
  std::uint32_t scope = 0;
  if (auto pct = host.find('%'); pct != std::string_view::npos) {
    addr_text = host.substr(0, pct);
    std::string_view zone = host.substr(pct + 1);
    if (zone.empty()) return invalid();
    if (is_digits(zone)) {
      auto [end, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), scope);
      if (ec != std::errc{} || end != zone.data() + zone.size()) return invalid();
    } else {
      char name[IF_NAMESIZE];
      if (!copy_cstr(zone, name)) return invalid();
      scope = ::if_nametoindex(name);
      if (scope == 0) return invalid();
    }
  }
  char buf[INET6_ADDRSTRLEN];
  std::array<std::uint8_t, 16> addr{};
  if (!copy_cstr(addr_text, buf) || ::inet_pton(AF_INET6, buf, addr.data()) != 1) return invalid();
  return endpoint::v6(addr, port, scope);
}

// FNV-1a, 64-bit; folded into size_t.
struct fnv1a {
  std::uint64_t state = 14695981039346656037ull;
  void add(const void* p, std::size_t n) noexcept {
    const auto* bytes = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      state ^= bytes[i];
      state *= 1099511628211ull;
    }
  }
};

}  // namespace

endpoint::endpoint() noexcept : storage_{} {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  store(data(), sin);
}

result<endpoint> endpoint::parse(std::string_view text) {
  // Printable ASCII only: no spaces, no control characters, no embedded NUL.
  if (text.empty()) return invalid();
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return invalid();
  }

  std::string_view host;
  std::string_view port_text;
  const bool bracketed = text.front() == '[';
  if (bracketed) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return invalid();
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return invalid();  // no port, or trailing garbage
    port_text = rest.substr(1);
  } else {
    // The first ':' ends an IPv4 host; a bare IPv6 address ("::1:80") leaves an empty host or a
    // port with ':' in it, and both are rejected.
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return invalid();
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) return invalid();
  const auto port = parse_port(port_text);
  if (!port) return invalid();
  return bracketed ? parse_v6_host(host, *port) : parse_v4_host(host, *port);
}

endpoint endpoint::v4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  std::memcpy(&sin.sin_addr, addr.data(), addr.size());
  endpoint e;
  store(e.data(), sin);
  return e;
}

endpoint endpoint::v6(std::array<std::uint8_t, 16> addr, std::uint16_t port,
                      std::uint32_t scope_id) noexcept {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, addr.data(), addr.size());
  sin6.sin6_scope_id = scope_id;
  endpoint e;
  store(e.data(), sin6);
  return e;
}

endpoint endpoint::loopback_v4(std::uint16_t port) noexcept {
  return v4({127, 0, 0, 1}, port);
}

endpoint endpoint::loopback_v6(std::uint16_t port) noexcept {
  std::array<std::uint8_t, 16> addr{};
  addr[15] = 1;
  return v6(addr, port);
}

endpoint endpoint::any_v4(std::uint16_t port) noexcept {
  return v4({0, 0, 0, 0}, port);
}

endpoint endpoint::any_v6(std::uint16_t port) noexcept {
  return v6({}, port);
}

result<endpoint> endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  if (sa == nullptr || len < offsetof(sockaddr, sa_family) + sizeof(sa_family_t)) return invalid();
  endpoint e;
  switch (family_of(sa)) {
    case AF_INET: {
      if (len < sizeof(sockaddr_in)) return invalid();
      auto sin = load<sockaddr_in>(sa);
      std::memset(sin.sin_zero, 0, sizeof sin.sin_zero);
      store(e.data(), sin);
      return e;
    }
    case AF_INET6:
      if (len < sizeof(sockaddr_in6)) return invalid();
      store(e.data(), load<sockaddr_in6>(sa));
      return e;
    default:
      return std::make_error_code(std::errc::address_family_not_supported);
  }
}

socklen_t endpoint::size() const noexcept {
  switch (family()) {
    case AF_INET:
      return sizeof(sockaddr_in);
    case AF_INET6:
      return sizeof(sockaddr_in6);
    default:
      return capacity();
  }
}

int endpoint::family() const noexcept {
  return family_of(storage_);
}

std::uint16_t endpoint::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(load<sockaddr_in>(data()).sin_port);
    case AF_INET6:
      return ntohs(load<sockaddr_in6>(data()).sin6_port);
    default:
      return 0;
  }
}

void endpoint::set_port(std::uint16_t port) noexcept {
  switch (family()) {
    case AF_INET: {
      auto sin = load<sockaddr_in>(data());
      sin.sin_port = htons(port);
      std::memcpy(data(), &sin, sizeof sin);
      break;
    }
    case AF_INET6: {
      auto sin6 = load<sockaddr_in6>(data());
      sin6.sin6_port = htons(port);
      std::memcpy(data(), &sin6, sizeof sin6);
      break;
    }
    default:
      break;
  }
}

std::uint32_t endpoint::scope_id() const noexcept {
  return is_v6() ? load<sockaddr_in6>(data()).sin6_scope_id : 0;
}

std::string endpoint::address_string() const {
  switch (family()) {
    case AF_INET: {
      const auto sin = load<sockaddr_in>(data());
      char buf[INET_ADDRSTRLEN];
      if (::inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf) == nullptr) return {};
      return buf;
    }
    case AF_INET6: {
      const auto sin6 = load<sockaddr_in6>(data());
      char buf[INET6_ADDRSTRLEN];
      if (::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf) == nullptr) return {};
      std::string out = buf;
      if (sin6.sin6_scope_id != 0) {
        out += '%';
        out += std::to_string(sin6.sin6_scope_id);
      }
      return out;
    }
    default:
      return {};
  }
}

std::string endpoint::to_string() const {
  switch (family()) {
    case AF_INET:
      return address_string() + ':' + std::to_string(port());
    case AF_INET6:
      return '[' + address_string() + "]:" + std::to_string(port());
    default:
      return {};
  }
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  if (a.family() != b.family()) return false;
  switch (a.family()) {
    case AF_INET: {
      const auto x = load<sockaddr_in>(a.data());
      const auto y = load<sockaddr_in>(b.data());
      return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    case AF_INET6: {
      const auto x = load<sockaddr_in6>(a.data());
      const auto y = load<sockaddr_in6>(b.data());
      return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
             std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
    }
    default:
      return std::memcmp(a.data(), b.data(), endpoint::capacity()) == 0;
  }
}

// Hashes exactly the fields operator== compares.
std::size_t endpoint::hash() const noexcept {
  fnv1a h;
  const sa_family_t f = family_of(storage_);
  h.add(&f, sizeof f);
  switch (f) {
    case AF_INET: {
      const auto sin = load<sockaddr_in>(data());
      h.add(&sin.sin_port, sizeof sin.sin_port);
      h.add(&sin.sin_addr, sizeof sin.sin_addr);
      break;
    }
    case AF_INET6: {
      const auto sin6 = load<sockaddr_in6>(data());
      h.add(&sin6.sin6_port, sizeof sin6.sin6_port);
      h.add(&sin6.sin6_addr, sizeof sin6.sin6_addr);
      h.add(&sin6.sin6_scope_id, sizeof sin6.sin6_scope_id);
      break;
    }
    default:
      h.add(storage_, sizeof storage_);
      break;
  }
  return static_cast<std::size_t>(h.state);
}

}  // namespace coring::net
