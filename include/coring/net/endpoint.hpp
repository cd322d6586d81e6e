// SPDX-License-Identifier: MIT
// coring::net::endpoint: an IPv4 or IPv6 socket address (numeric address + port, plus a scope id
// for IPv6). A small regular value type: copyable, equality comparable, hashable (std::hash).
// Thread safety is that of an int: concurrent reads are fine, a write needs exclusive access.
// It never does DNS: parse() accepts numeric addresses only, and failures come back as a
// result<endpoint> error (std::errc::invalid_argument), never as a crash or an exception.
// A default-constructed endpoint is IPv4 0.0.0.0:0.
#pragma once

#include <sys/socket.h>  // sockaddr, socklen_t, AF_INET, AF_INET6: nothing from <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "coring/result.hpp"

namespace coring::net {

class endpoint {
 public:
  /// Bytes that data() may hold: sizeof(sockaddr_in6), the larger of the two families. Pass this
  /// as the buffer length when the kernel fills data() in (accept, recvfrom, getsockname).
  static constexpr socklen_t capacity() noexcept { return static_cast<socklen_t>(storage_size); }

  /// IPv4 0.0.0.0:0.
  endpoint() noexcept;

  /// "127.0.0.1:8080", "[::1]:8080", "[fe80::1%lo]:80" (scope by interface name or number).
  /// Anything else, and any name that would need DNS, is std::errc::invalid_argument.
  static result<endpoint> parse(std::string_view text);

  static endpoint v4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept;
  static endpoint v6(std::array<std::uint8_t, 16> addr, std::uint16_t port,
                     std::uint32_t scope_id = 0) noexcept;
  static endpoint loopback_v4(std::uint16_t port) noexcept;  // 127.0.0.1
  static endpoint loopback_v6(std::uint16_t port) noexcept;  // ::1
  static endpoint any_v4(std::uint16_t port) noexcept;       // 0.0.0.0
  static endpoint any_v6(std::uint16_t port) noexcept;       // ::

  /// Copies a sockaddr_in / sockaddr_in6. Other families: std::errc::address_family_not_supported;
  /// a null pointer or a length too short for the family: std::errc::invalid_argument.
  static result<endpoint> from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

  // The storage is an array of std::byte, which implicitly creates the sockaddr_in/_in6 object
  // the sockets API expects; the casts go through void* so that no alignment warning fires.
  const sockaddr* data() const noexcept {
    return static_cast<const sockaddr*>(static_cast<const void*>(storage_));
  }
  /// For the kernel to fill in (with capacity() as the length). Writing a family other than
  /// AF_INET/AF_INET6 here leaves a safe but useless endpoint: port() 0, address_string() "".
  sockaddr* data() noexcept { return static_cast<sockaddr*>(static_cast<void*>(storage_)); }

  /// sizeof(sockaddr_in) for IPv4, sizeof(sockaddr_in6) for IPv6 (capacity() for anything else).
  socklen_t size() const noexcept;
  /// AF_INET or AF_INET6.
  int family() const noexcept;
  bool is_v4() const noexcept { return family() == AF_INET; }
  bool is_v6() const noexcept { return family() == AF_INET6; }

  /// In host byte order.
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  /// The IPv6 scope (interface index); 0 for IPv4 and for unscoped IPv6 addresses.
  std::uint32_t scope_id() const noexcept;

  /// "127.0.0.1", "::1", "fe80::1%2" (the scope as a number).
  std::string address_string() const;
  /// "127.0.0.1:80", "[::1]:80", "[fe80::1%2]:80"; parse(to_string()) gives back an equal endpoint.
  std::string to_string() const;

  /// Same family, address, port and (IPv6) scope id. IPv6 flow info is ignored, as Asio does.
  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;

  std::size_t hash() const noexcept;

 private:
  static constexpr std::size_t storage_size = 28;  // sizeof(sockaddr_in6), checked in endpoint.cpp

  // Why bytes and not sockaddr_storage or a union of sockaddr_in/_in6: this keeps <netinet/in.h>
  // out of the header and the value 28 bytes instead of 128; endpoint.cpp static_asserts that
  // sockaddr_in6 fits, and reads/writes the fields through memcpy.
  alignas(std::uint32_t) std::byte storage_[storage_size];
};

}  // namespace coring::net

template <>
struct std::hash<coring::net::endpoint> {
  std::size_t operator()(const coring::net::endpoint& e) const noexcept { return e.hash(); }
};
