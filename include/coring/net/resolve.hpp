// SPDX-License-Identifier: MIT
// coring::net::resolve(host, service): name resolution with getaddrinfo(3), run on the blocking
// pool (coring::spawn_blocking) so that no io-pool or CPU-pool thread waits on DNS.
//
//   coring::result<std::vector<endpoint>> r = co_await coring::net::resolve("localhost", "80");
//
// Gives every address getaddrinfo returns for a stream socket (SOCK_STREAM, both families, no
// AI_ADDRCONFIG, so loopback names resolve on a host without a configured address), in its order.
// `service` is a port number ("8080") or a name from /etc/services ("http"). The task resumes on
// the pool it awaited from. Failures are error codes, never exceptions:
// - getaddrinfo's EAI_* codes are in resolve_category() (message: gai_strerror), comparable with
//   resolve_errc (`r.error() == coring::net::resolve_errc::host_not_found`); EAI_AGAIN,
//   EAI_MEMORY and EAI_FAMILY also compare equal to the generic conditions
//   errc::resource_unavailable_try_again, not_enough_memory and address_family_not_supported;
// - EAI_SYSTEM is reported as the errno it carries (system category).
// Like any spawn_blocking job, a lookup is not a cancellation point: it runs to its end.
#pragma once

#include <netdb.h>

#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "coring/net/endpoint.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring::net {

/// getaddrinfo's failures; the values are the negated EAI_* codes.
enum class resolve_errc : int {
  host_not_found = -EAI_NONAME,        // no such name (or no address for it)
  try_again = -EAI_AGAIN,              // temporary failure (no answer from the name server)
  no_recovery = -EAI_FAIL,             // permanent name server failure
  service_not_found = -EAI_SERVICE,    // the service is not known for the socket type
  family_not_supported = -EAI_FAMILY,  //
  out_of_memory = -EAI_MEMORY,         //
  bad_flags = -EAI_BADFLAGS,           //
};

/// The category of resolve_errc ("coring.resolve").
const std::error_category& resolve_category() noexcept;

inline std::error_code make_error_code(resolve_errc e) noexcept {
  return {static_cast<int>(e), resolve_category()};
}

/// Resolves `host` (a name or a numeric address) and `service` to endpoints.
[[nodiscard]] task<result<std::vector<endpoint>>> resolve(std::string host, std::string service);

}  // namespace coring::net

template <>
struct std::is_error_code_enum<coring::net::resolve_errc> : std::true_type {};
