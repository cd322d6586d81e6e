// SPDX-License-Identifier: MIT
#include "coring/net/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>

#include "coring/spawn_blocking.hpp"

namespace coring::net {

namespace {

class resolve_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coring.resolve"; }
  std::string message(int value) const override { return ::gai_strerror(-value); }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (-value) {
      case EAI_AGAIN:
        return std::errc::resource_unavailable_try_again;
      case EAI_MEMORY:
        return std::errc::not_enough_memory;
      case EAI_FAMILY:
        return std::errc::address_family_not_supported;
      default:
        return {value, *this};
    }
  }
};

/// The lookup itself; runs on a blocking-pool thread.
result<std::vector<endpoint>> lookup(const std::string& host, const std::string& service) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = 0;  // no AI_ADDRCONFIG: "localhost" resolves on hosts with loopback only
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                               service.empty() ? nullptr : service.c_str(), &hints, &list);
  if (rc == EAI_SYSTEM) {
    const int error = errno != 0 ? errno : EIO;
    return std::error_code(error, std::system_category());
  }
  if (rc != 0) return std::error_code(-rc, resolve_category());

  std::vector<endpoint> endpoints;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    const result<endpoint> ep = endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if (ep) endpoints.push_back(*ep);  // families other than IPv4/IPv6 are skipped
  }
  ::freeaddrinfo(list);
  if (endpoints.empty()) return std::error_code(-EAI_NONAME, resolve_category());
  return endpoints;
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl category;
  return category;
}

task<result<std::vector<endpoint>>> resolve(std::string host, std::string service) {
  // A named job, not a lambda with init-captures inside the co_await expression: g++ 12 copies
  // such a temporary bitwise into the frame, leaving the strings' short-string pointers behind.
  auto job = [host = std::move(host), service = std::move(service)] { return lookup(host, service); };
  result<std::vector<endpoint>> endpoints = co_await coring::spawn_blocking(std::move(job));
  co_return endpoints;
}

}  // namespace coring::net
