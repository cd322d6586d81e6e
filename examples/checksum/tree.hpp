// SPDX-License-Identifier: MIT
// The files `checksum -r` hashes under a directory, in a deterministic order.
//
// list_files(root) walks the tree (blocking system calls: run it on a blocking thread) and gives
// every regular file, and every symbolic link to a regular file, under `root`, sorted by path
// byte by byte: the order of `find ROOT -xtype f -print0 | LC_ALL=C sort -z`. Links to
// directories are not followed (no cycles), dangling links and other file types are left out.
// A directory that cannot be read is listed, at its own path, with its error. Paths are `root`
// joined with '/' (no second '/' after a root that ends in one). Safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace checksum {

struct tree_entry {
  std::string path;
  std::uint64_t size = 0;  // the file's size when listed (for the progress bar)
  std::error_code error;   // a directory that could not be read
};

std::vector<tree_entry> list_files(const std::string& root);

}  // namespace checksum
