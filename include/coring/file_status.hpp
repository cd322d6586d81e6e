// SPDX-License-Identifier: MIT
// coring::file_status: what statx(2) reports about a file (size, type and permission bits, owner,
// link count, times), and the awaitable that asks the kernel for it through the ring.
//
// Give it by path with coring::fs::status() (fs.hpp) or for an open file with coring::file::stat()
// (file.hpp). A plain value type; not tied to any thread.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "coring/detail/io_op.hpp"
#include "coring/result.hpp"

namespace coring {

struct file_status {
  std::uint64_t size = 0;
  mode_t mode = 0;  // file type and permission bits, as st_mode
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t nlink = 0;
  std::chrono::system_clock::time_point access_time{};
  std::chrono::system_clock::time_point modify_time{};
  std::chrono::system_clock::time_point change_time{};

  bool is_regular() const noexcept { return S_ISREG(mode); }
  bool is_directory() const noexcept { return S_ISDIR(mode); }
  bool is_symlink() const noexcept { return S_ISLNK(mode); }
  /// The permission bits alone (mode & 07777).
  mode_t permissions() const noexcept { return mode & 07777; }
};

namespace detail {

inline std::chrono::system_clock::time_point from_statx_time(const struct statx_timestamp& t) noexcept {
  const auto since_epoch = std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
}

inline file_status to_file_status(const struct statx& s) noexcept {
  file_status st;
  st.size = s.stx_size;
  st.mode = static_cast<mode_t>(s.stx_mode);
  st.uid = static_cast<uid_t>(s.stx_uid);
  st.gid = static_cast<gid_t>(s.stx_gid);
  st.nlink = s.stx_nlink;
  st.access_time = from_statx_time(s.stx_atime);
  st.modify_time = from_statx_time(s.stx_mtime);
  st.change_time = from_statx_time(s.stx_ctime);
  return st;
}

/// statx through the ring. Owns the path and the struct statx the kernel fills in, so it must not
/// move while the op is in flight (it is awaited where it is made).
/// `fd` < 0 resolves `path` against the current directory; with `fd` >= 0 and an empty path, pass
/// AT_EMPTY_PATH in `flags` to ask about the descriptor itself.
struct statx_awaitable : op_awaitable {
  std::string path;
  struct statx buf {};
  bool no_descriptor = false;  // asked about a descriptor, but none is open: gives bad_file_descriptor
  bool bad_path = false;       // an interior NUL: gives invalid_argument

  statx_awaitable(int fd, std::string p, int flags) : path(std::move(p)) {
    op.code = op_code::statx;
    op.fd = fd;
    op.args.stat = {path.c_str(), static_cast<std::uint32_t>(flags), STATX_BASIC_STATS, &buf};
    // Without this, fd -1 would become AT_FDCWD and report on the current directory.
    no_descriptor = fd < 0 && fd != AT_FDCWD && path.empty() && (flags & AT_EMPTY_PATH) != 0;
    bad_path = path.find('\0') != std::string::npos;  // the kernel would read a shorter path
  }
  statx_awaitable(const statx_awaitable&) = delete;
  statx_awaitable& operator=(const statx_awaitable&) = delete;

  bool await_ready() const noexcept { return no_descriptor || bad_path; }
  result<file_status> await_resume() noexcept {
    if (no_descriptor) return error_from_errno(-EBADF);
    if (bad_path) return error_from_errno(-EINVAL);
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return to_file_status(buf);
  }
};

}  // namespace detail

}  // namespace coring
