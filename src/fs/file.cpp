// SPDX-License-Identifier: MIT
#include "coring/file.hpp"

#include <unistd.h>

namespace coring::detail {

void close_fd(int fd) noexcept {
  forget_descriptor(fd);
  ::close(fd);
}

}  // namespace coring::detail
