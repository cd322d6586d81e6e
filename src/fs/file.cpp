#include "coring/file.hpp"

#include <unistd.h>

namespace coring {

void detail::close_fd(int fd) noexcept {
  ::close(fd);
}

void file::close_now() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace coring
