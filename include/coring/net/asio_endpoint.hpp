// SPDX-License-Identifier: MIT
// Conversions between coring::net::endpoint and asio::ip::tcp::endpoint (standalone Asio).
// Header-only and opt-in: only code that includes this header needs Asio; endpoint.hpp never does.
// Both directions copy the raw sockaddr, so address, port and IPv6 scope id survive unchanged.
// Plain functions on values: thread safety is that of the values passed in. No DNS.
#pragma once

#include <asio/ip/tcp.hpp>
#include <cstring>

#include "coring/net/endpoint.hpp"

namespace coring::net {

/// An endpoint that is neither IPv4 nor IPv6 (only possible after writing into data()) becomes a
/// default-constructed Asio endpoint.
inline asio::ip::tcp::endpoint to_asio(const endpoint& e) {
  asio::ip::tcp::endpoint out;
  if ((!e.is_v4() && !e.is_v6()) || e.size() > out.capacity()) return out;
  std::memcpy(out.data(), e.data(), e.size());
  out.resize(e.size());
  return out;
}

/// An Asio TCP endpoint is always IPv4 or IPv6, so this cannot fail; should Asio ever hand over
/// something else, the result is the default endpoint (0.0.0.0:0).
inline endpoint from_asio(const asio::ip::tcp::endpoint& e) noexcept {
  auto r = endpoint::from_sockaddr(e.data(), static_cast<socklen_t>(e.size()));
  return r ? *r : endpoint{};
}

}  // namespace coring::net
