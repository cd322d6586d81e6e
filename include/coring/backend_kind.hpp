// SPDX-License-Identifier: MIT
// coring::backend_kind: which kernel interface an event loop drives.
//
//   automatic  io_uring where the kernel lets the process make a ring; otherwise epoll, with one
//              line on stderr saying why (runtime_options::quiet_backend_fallback silences it).
//              The environment variable CORING_BACKEND (io_uring, epoll or automatic) overrides it.
//   io_uring   io_uring only: making a loop throws std::system_error where it is blocked.
//   epoll      epoll (and a few threads for regular-file and path operations): for systems that
//              block io_uring (Docker's default seccomp profile, kernel.io_uring_disabled, gVisor)
//              and for tests. Every API works on both; docs/compatibility.md lists the differences.
#pragma once

#include <string_view>

namespace coring {

enum class backend_kind { automatic, io_uring, epoll };

/// "automatic", "io_uring" or "epoll".
constexpr std::string_view to_string(backend_kind kind) noexcept {
  switch (kind) {
    case backend_kind::io_uring:
      return "io_uring";
    case backend_kind::epoll:
      return "epoll";
    case backend_kind::automatic:
      break;
  }
  return "automatic";
}

}  // namespace coring
