// SPDX-License-Identifier: MIT
// file_cache: what the server knows about the files under its root, by path: size, mtime, the
// strong ETag (SHA-256 of the content), and for small files the content itself and its gzip.
//
// find() stats the path through the ring on every call (fs::status), and an entry is used only
// while the file's size and mtime are what they were when it was made: an edited file is read and
// hashed again. On a miss the file is opened and read through the ring from the CPU pool (the
// task hops there with co_await coring::on(cpu), hashes as the chunks arrive, gzips, and comes
// back to the io loop it started on): io loops never hash or compress.
//
// Paths: find() takes the checked relative path of http::resolve_target (no "..", no NUL), and
// a file opened on a miss must really lie under the root: a symbolic link that leads outside gives
// 404 (the descriptor's /proc/self/fd link is checked against the canonical root).
//
// Threads: find() may run on any io loop at once; the map is behind a mutex, entries are
// immutable and shared (std::shared_ptr<const file_entry>), so a connection keeps the one it
// got while the map changes. Contents kept are bounded by max_total_bytes (past it, entries keep
// only their ETag).
#pragma once

#include <chrono>
#include <coring/coring.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

struct file_entry {
  std::string path;  // full path, as opened
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point mtime{};
  std::string etag;       // quoted: "\"<64 hex digits>\""
  std::string gzip_etag;  // the gzip representation's own strong tag, when `gzip` is kept
  std::string last_modified;
  std::string_view type;                       // Content-Type
  std::shared_ptr<const std::string> content;  // null: the file is read again for each request
  std::shared_ptr<const std::string> gzip;     // null: no gzip representation
};

struct file_lookup {
  int status = 200;  // 200, or 404 / 403 / 500
  std::shared_ptr<const file_entry> entry;
  bool directory_index = false;  // the path named a directory: this is its index.html
};

struct file_cache_options {
  std::size_t max_file_bytes = 1 << 20;    // files up to this size keep their content
  std::size_t max_total_bytes = 64 << 20;  // all contents (and gzips) kept together
  bool gzip = false;                       // keep a gzip of compressible small files
};

class file_cache {
 public:
  /// `root` must be an existing directory (canonicalized here); `cpu` is where hashing runs.
  file_cache(const std::string& root, coring::executor cpu, file_cache_options options);

  /// The entry for `relative` ("" is the root; a directory gives its index.html). Resumes on
  /// the executor the caller runs on.
  coring::task<file_lookup> find(std::string relative);

  /// Opens the entry's file (for an entry without content), through the ring. A file replaced by
  /// a link to outside the root since gives errc::permission_denied.
  coring::task<coring::result<coring::file>> open(const file_entry& entry) const;

  const std::string& root() const noexcept { return root_; }

 private:
  coring::task<file_lookup> load(std::string path, coring::file_status status);
  bool inside_root(int fd) const;

  std::string root_;
  coring::executor cpu_;
  file_cache_options options_;
  std::mutex mutex_;  // guards entries_ and kept_bytes_
  std::unordered_map<std::string, std::shared_ptr<const file_entry>> entries_;
  std::size_t kept_bytes_ = 0;
};
