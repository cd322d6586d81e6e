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

std::atomic<bool> fallback_reported{false};

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

void report_fallback(bool quiet, const std::string& why) {
  if (quiet || fallback_reported.exchange(true)) return;
  std::fprintf(stderr, "coring: io_uring unavailable (%s); using the epoll backend\n", why.c_str());
}

}  // namespace

chosen_backend make_backend(backend_kind asked, unsigned ring_entries, bool quiet) {
  const backend_kind kind = from_environment(asked);
  if (kind == backend_kind::epoll) return {make_epoll_backend(), backend_kind::epoll};
  if (kind == backend_kind::io_uring) return {make_uring_backend(ring_entries), backend_kind::io_uring};
  // Automatic: io_uring unless the probe found it refused (EPERM, ENOSYS, EACCES: seccomp, sysctl,
  // no syscall; EINVAL: a kernel too old to probe) or too old (a required opcode missing).
  const uring_support support = probe_uring_support();
  if (support.error == 0) {
    try {
      return {make_uring_backend(ring_entries), backend_kind::io_uring};
    } catch (const std::system_error& e) {
      // Kernels before 5.12 charge rings to RLIMIT_MEMLOCK: the probe's small ring fits, a
      // loop's may not.
      if (e.code().value() != ENOMEM) throw;
      report_fallback(quiet, e.what());
    }
  } else {
    report_fallback(quiet, support.why);
  }
  return {make_epoll_backend(), backend_kind::epoll};
}

}  // namespace coring::detail
