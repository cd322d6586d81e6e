// SPDX-License-Identifier: MIT
// unique_fd: owns one file descriptor; moving transfers it, destruction closes it (close(2),
// synchronously). The shared core of file, tcp_stream and tcp_listener.
#pragma once

#include <utility>

namespace coring::detail {

/// Closes `fd` with close(2).
void close_fd(int fd) noexcept;
/// `fd` is about to stop naming the file coring knew it as (closed, or handed to the caller):
/// loops must not trust what they registered for it (see src/backend/descriptor_generations.hpp).
void forget_descriptor(int fd) noexcept;

class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  /// release() to a caller outside coring, who may close the descriptor behind coring's back.
  int release_to_caller() noexcept {
    if (fd_ >= 0) forget_descriptor(fd_);
    return release();
  }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) close_fd(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace coring::detail
