// SPDX-License-Identifier: MIT
#include "coring/file.hpp"

#include <unistd.h>

namespace coring::detail {

void close_fd(int fd) noexcept {
  ::close(fd);
}

}  // namespace coring::detail
