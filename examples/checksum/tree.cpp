// SPDX-License-Identifier: MIT
// checksum -r's directory walk (see tree.hpp), with std::filesystem.
#include "tree.hpp"

#include <algorithm>
#include <filesystem>

namespace checksum {

namespace {

namespace stdfs = std::filesystem;

std::string join(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

void walk(const std::string& dir, std::vector<tree_entry>& out) {
  std::error_code ec;
  stdfs::directory_iterator it(dir, ec);
  if (ec) {
    out.push_back({dir, 0, ec});
    return;
  }
  std::vector<std::string> subdirs;
  for (const stdfs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const stdfs::directory_entry& entry = *it;
    const std::string path = join(dir, entry.path().filename().string());
    std::error_code type_ec;
    const stdfs::file_status link = entry.symlink_status(type_ec);
    if (type_ec) continue;  // gone meanwhile
    if (stdfs::is_directory(link)) {
      subdirs.push_back(path);
      continue;
    }
    if (stdfs::is_symlink(link)) {
      const stdfs::file_status target = entry.status(type_ec);
      if (type_ec || !stdfs::is_regular_file(target)) continue;  // dangling, or not a file
    } else if (!stdfs::is_regular_file(link)) {
      continue;
    }
    std::error_code size_ec;
    const std::uintmax_t size = entry.file_size(size_ec);
    out.push_back({path, size_ec ? 0 : static_cast<std::uint64_t>(size), {}});
  }
  if (ec) out.push_back({dir, 0, ec});
  for (const std::string& sub : subdirs) walk(sub, out);
}

}  // namespace

std::vector<tree_entry> list_files(const std::string& root) {
  std::vector<tree_entry> out;
  walk(root, out);
  std::sort(out.begin(), out.end(), [](const tree_entry& a, const tree_entry& b) { return a.path < b.path; });
  return out;
}

}  // namespace checksum
