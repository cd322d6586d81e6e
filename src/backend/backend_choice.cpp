// SPDX-License-Identifier: MIT
// Which backend a loop gets (see coring/backend_kind.hpp).
#include "backend/backend_choice.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace coring::detail {

namespace {

/// io_uring was refused for good in this process (seccomp, sysctl, no syscall): later loops go
/// straight to epoll. A seccomp filter is never lifted, so this holds for forked children too.
std::atomic<bool> uring_refused{false};
std::atomic<bool> fallback_reported{false};

bool is_refusal(int error) noexcept {
  return error == EPERM || error == ENOSYS || error == EACCES;
}

backend_kind from_environment(backend_kind asked) {
  if (asked != backend_kind::automatic) return asked;
  const char* value = std::getenv("CORING_BACKEND");
  if (value == nullptr || *value == '\0') return backend_kind::automatic;
  const std::string_view name(value);
  for (backend_kind kind : {backend_kind::automatic, backend_kind::io_uring, backend_kind::epoll}) {
    if (name == to_string(kind)) return kind;
  }
  throw std::invalid_argument("coring: CORING_BACKEND=" + std::string(name) +
                              " is not one of io_uring, epoll, automatic");
}

}  // namespace

chosen_backend make_backend(backend_kind asked, unsigned ring_entries, bool quiet) {
  const backend_kind kind = from_environment(asked);
  if (kind == backend_kind::epoll) return {make_epoll_backend(), backend_kind::epoll};
  if (kind == backend_kind::io_uring) return {make_uring_backend(ring_entries), backend_kind::io_uring};
  if (!uring_refused.load(std::memory_order_relaxed)) {
    try {
      return {make_uring_backend(ring_entries), backend_kind::io_uring};
    } catch (const std::system_error& e) {
      const int error = e.code().value();
      if (!is_refusal(error) && error != ENOMEM) throw;
      if (is_refusal(error)) uring_refused.store(true, std::memory_order_relaxed);
      if (!quiet && !fallback_reported.exchange(true)) {
        std::fprintf(stderr, "coring: io_uring unavailable (%s); using the epoll backend\n", e.what());
      }
    }
  }
  return {make_epoll_backend(), backend_kind::epoll};
}

}  // namespace coring::detail
