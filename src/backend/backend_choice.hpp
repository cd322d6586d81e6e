// SPDX-License-Identifier: MIT
// Makes a loop's backend: the one asked for, or for backend_kind::automatic the one the
// environment (CORING_BACKEND) names, else io_uring where the kernel allows it and epoll where not.
#pragma once

#include <memory>

#include "backend/backend.hpp"
#include "coring/backend_kind.hpp"

namespace coring::detail {

struct chosen_backend {
  std::unique_ptr<backend> made;
  backend_kind kind;  // never automatic
};

/// Throws std::system_error when the backend asked for cannot be made, std::invalid_argument for a
/// CORING_BACKEND it does not know. Prints one line to stderr (once per process, unless `quiet`)
/// when automatic falls back to epoll.
chosen_backend make_backend(backend_kind asked, unsigned ring_entries, bool quiet);

std::unique_ptr<backend> make_epoll_backend();

}  // namespace coring::detail
