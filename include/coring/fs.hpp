// SPDX-License-Identifier: MIT
// coring::fs: file-system operations through the event loop's ring (unlinkat, renameat, mkdirat,
// statx), and whole-file read_file/write_file built on coring::file.
//
// Every operation gives result<T>; the kernel's error arrives as the error_code (a missing path gives
// errc::no_such_file_or_directory). Relative paths resolve against the process's current directory.
// Awaited on the CPU pool, the operation runs on an io loop and the task resumes on the CPU pool.
// The awaitables own their path strings, so the caller's strings need not outlive the co_await.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "coring/detail/io_op.hpp"
#include "coring/file.hpp"
#include "coring/file_status.hpp"
#include "coring/result.hpp"
#include "coring/task.hpp"

namespace coring::fs {

namespace detail {

/// The shared part of operations that give only success or an error.
struct void_op_awaitable : coring::detail::op_awaitable {
  bool bad_path = false;  // a path with an interior NUL: errc::invalid_argument, no request made

  bool await_ready() const noexcept { return bad_path; }
  result<void> await_resume() noexcept {
    if (bad_path) return std::make_error_code(std::errc::invalid_argument);
    const int r = finish();
    if (r < 0) return error_from_errno(r);
    return {};
  }
};

struct unlink_awaitable : void_op_awaitable {
  std::string path;
  unlink_awaitable(std::string p, int flags) : path(std::move(p)) {
    op.code = coring::detail::op_code::unlinkat;
    op.args.path = {path.c_str(), static_cast<std::uint32_t>(flags), 0};
    bad_path = coring::detail::has_nul(path);
  }
};

struct rename_awaitable : void_op_awaitable {
  std::string from;
  std::string to;
  rename_awaitable(std::string f, std::string t) : from(std::move(f)), to(std::move(t)) {
    op.code = coring::detail::op_code::renameat;
    op.args.rename = {from.c_str(), to.c_str()};
    bad_path = coring::detail::has_nul(from) || coring::detail::has_nul(to);
  }
};

struct mkdir_awaitable : void_op_awaitable {
  std::string path;
  mkdir_awaitable(std::string p, mode_t mode) : path(std::move(p)) {
    op.code = coring::detail::op_code::mkdirat;
    op.args.path = {path.c_str(), 0, static_cast<std::uint32_t>(mode)};
    bad_path = coring::detail::has_nul(path);
  }
};

}  // namespace detail

/// Removes a file (or a symbolic link, or another non-directory): unlink(2).
[[nodiscard]] inline detail::unlink_awaitable remove(std::string path) {
  return detail::unlink_awaitable{std::move(path), 0};
}

/// Removes an empty directory: rmdir(2). A non-empty one gives errc::directory_not_empty.
[[nodiscard]] inline detail::unlink_awaitable remove_directory(std::string path) {
  return detail::unlink_awaitable{std::move(path), AT_REMOVEDIR};
}

/// Renames `from` to `to`, replacing `to` if it exists (rename(2)).
[[nodiscard]] inline detail::rename_awaitable rename(std::string from, std::string to) {
  return detail::rename_awaitable{std::move(from), std::move(to)};
}

/// Creates a directory (mkdir(2); `mode` is masked by the umask). An existing path gives errc::file_exists.
[[nodiscard]] inline detail::mkdir_awaitable make_directory(std::string path, mode_t mode = 0755) {
  return detail::mkdir_awaitable{std::move(path), mode};
}

/// The status of `path` (statx(2)). `flags` 0 follows a final symbolic link; AT_SYMLINK_NOFOLLOW
/// reports on the link itself.
[[nodiscard]] inline coring::detail::statx_awaitable status(std::string path, int flags = 0) {
  return coring::detail::statx_awaitable{AT_FDCWD, std::move(path), flags};
}

/// Reads the whole file at `path`. Sizes the buffer from the file's status, then reads until end
/// of file (so a file that grows meanwhile, or one whose size reads as 0 such as those in /proc,
/// is still read whole).
[[nodiscard]] inline task<result<std::string>> read_file(std::string path) {
  result<file> opened = co_await file::open(std::move(path), O_RDONLY);
  if (!opened) co_return opened.error();
  file f = std::move(*opened);

  const result<file_status> st = co_await f.stat();
  if (!st) co_return st.error();

  constexpr std::size_t min_chunk = 64 * 1024;
  std::string data;
  data.resize(static_cast<std::size_t>(st->size) + 1 > min_chunk ? static_cast<std::size_t>(st->size) + 1
                                                                 : min_chunk);
  std::size_t done = 0;
  for (;;) {
    if (done == data.size()) data.resize(data.size() * 2);
    const result<std::size_t> n =
        co_await f.read_at(std::span<char>(data.data() + done, data.size() - done), done);
    if (!n) {
      if (coring::detail::is_transient(n.error())) continue;
      co_return n.error();
    }
    if (*n == 0) break;  // end of file
    done += *n;
  }
  data.resize(done);

  const result<void> closed = co_await f.close();
  if (!closed) co_return closed.error();
  co_return std::move(data);
}

/// Writes `data` as the whole content of the file at `path`, creating it with `mode` (masked by the
/// umask) or truncating it. `data` must stay alive until the co_await returns.
[[nodiscard]] inline task<result<void>> write_file(std::string path, std::string_view data,
                                                   mode_t mode = 0644) {
  result<file> opened = co_await file::open(std::move(path), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (!opened) co_return opened.error();
  file f = std::move(*opened);

  const result<void> written = co_await f.write_all(std::as_bytes(std::span<const char>(data)), 0);
  if (!written) co_return written.error();

  const result<void> closed = co_await f.close();
  if (!closed) co_return closed.error();
  co_return result<void>{};
}

}  // namespace coring::fs
