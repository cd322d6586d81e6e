// SPDX-License-Identifier: MIT
// file_cache: see file_cache.hpp.
#include "file_cache.hpp"

#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "http_util.hpp"

namespace {

/// SHA-256 through OpenSSL's EVP interface, fed chunk by chunk.
class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
    }
  }
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  ~sha256() { EVP_MD_CTX_free(ctx_); }
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }
  /// The digest as 64 lower-case hex digits.
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, digest, &n);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (unsigned int i = 0; i < n; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

/// The gzip (RFC 1952) form of `data`, by zlib at its default level.
std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int r = deflate(&z, Z_FINISH);  // deflateBound room: one call finishes
  out.resize(z.total_out);
  deflateEnd(&z);
  if (r != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

int status_for(std::error_code e) {
  if (e == std::errc::no_such_file_or_directory || e == std::errc::not_a_directory ||
      e == std::errc::filename_too_long || e == std::errc::too_many_symbolic_link_levels) {
    return 404;
  }
  if (e == std::errc::permission_denied) return 403;
  return 500;
}

}  // namespace

file_cache::file_cache(const std::string& root, coring::executor cpu, file_cache_options options)
    : cpu_(cpu), options_(options) {
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "realpath(" + root + ")");
  }
  root_ = resolved;
}

bool file_cache::inside_root(int fd) const {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  const ssize_t n = ::readlink(link, target, sizeof target);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof target) return false;
  const std::string_view real(target, static_cast<std::size_t>(n));
  if (root_ == "/") return true;
  return real.size() > root_.size() && real.substr(0, root_.size()) == root_ && real[root_.size()] == '/';
}

coring::task<file_lookup> file_cache::find(std::string relative) {
  std::string path = root_;
  if (!relative.empty()) {
    path += '/';
    path += relative;
  }
  coring::result<coring::file_status> st = co_await coring::fs::status(path);
  const bool index = st && st->is_directory();
  if (index) {
    path += "/index.html";
    st = co_await coring::fs::status(path);
  }
  if (!st) co_return file_lookup{status_for(st.error()), nullptr};
  if (!st->is_regular()) co_return file_lookup{404, nullptr};  // no devices, FIFOs, sockets
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(path); it != entries_.end()) {
      const file_entry& e = *it->second;
      if (e.size == st->size && e.mtime == st->modify_time) co_return file_lookup{200, it->second, index};
    }
  }
  file_lookup loaded = co_await load(std::move(path), *st);
  loaded.directory_index = index;
  co_return loaded;
}

coring::task<file_lookup> file_cache::load(std::string path, coring::file_status status) {
  coring::result<coring::file> opened = co_await coring::file::open(path, O_RDONLY);
  if (!opened) co_return file_lookup{status_for(opened.error()), nullptr};
  coring::file f = std::move(*opened);
  if (!inside_root(f.native_handle())) co_return file_lookup{404, nullptr};
  if (auto fst = co_await f.stat(); fst) status = *fst;  // the opened file's own size and mtime

  auto entry = std::make_shared<file_entry>();
  entry->path = path;
  entry->size = status.size;
  entry->mtime = status.modify_time;
  entry->type = http::content_type(path);
  entry->last_modified = http::http_date(status.modify_time);
  const bool keep = status.size <= options_.max_file_bytes;

  // Read and hash on the CPU pool: the reads still go through an io loop's ring, the task
  // resumes on a CPU worker after each, and the loop that serves the connection is never busy
  // hashing.
  const coring::executor back = co_await coring::this_executor();
  co_await coring::on(cpu_);
  sha256 hash;
  std::string content;
  std::vector<char> chunk(keep ? 0 : 256 * 1024);
  if (keep) content.resize(static_cast<std::size_t>(status.size));
  std::uint64_t offset = 0;
  bool failed = false;
  for (;;) {
    std::span<char> into =
        keep ? std::span<char>(content).subspan(static_cast<std::size_t>(offset)) : std::span<char>(chunk);
    if (into.empty()) break;  // the content buffer is full: the size stat gave
    const coring::result<std::size_t> n = co_await f.read_at(into, offset);
    if (!n) {
      if (n.error() == std::errc::interrupted || n.error() == std::errc::resource_unavailable_try_again)
        continue;
      failed = true;
      break;
    }
    if (*n == 0) break;
    hash.update(std::string_view(into.data(), *n));
    offset += *n;
  }
  if (!failed && offset != status.size) failed = true;  // changed while read: do not cache a mix
  if (!failed) {
    entry->etag = '"' + hash.hex() + '"';
    if (keep) {
      if (options_.gzip && http::compressible(entry->type) && content.size() >= 64) {
        std::string packed = gzip(content);
        if (packed.size() < content.size()) {
          entry->gzip_etag = entry->etag.substr(0, entry->etag.size() - 1) + "-gzip\"";
          entry->gzip = std::make_shared<const std::string>(std::move(packed));
        }
      }
      entry->content = std::make_shared<const std::string>(std::move(content));
    }
  }
  co_await coring::on(back);
  (void)co_await f.close();
  if (failed) co_return file_lookup{500, nullptr};

  std::shared_ptr<const file_entry> shared = entry;
  {
    std::lock_guard lock(mutex_);
    const std::size_t bytes =
        (entry->content ? entry->content->size() : 0) + (entry->gzip ? entry->gzip->size() : 0);
    auto& slot = entries_[path];
    if (slot)
      kept_bytes_ -= (slot->content ? slot->content->size() : 0) + (slot->gzip ? slot->gzip->size() : 0);
    if (kept_bytes_ + bytes > options_.max_total_bytes) {
      // Over budget: keep the ETag only (this request still uses the content it read).
      auto light = std::make_shared<file_entry>(*entry);
      light->content.reset();
      light->gzip.reset();
      light->gzip_etag.clear();
      slot = std::move(light);
    } else {
      kept_bytes_ += bytes;
      slot = shared;
    }
  }
  co_return file_lookup{200, std::move(shared)};
}

coring::task<coring::result<coring::file>> file_cache::open(const file_entry& entry) const {
  coring::result<coring::file> opened = co_await coring::file::open(entry.path, O_RDONLY);
  if (opened && !inside_root(opened->native_handle())) {
    co_return std::make_error_code(std::errc::permission_denied);
  }
  co_return opened;
}
