// SPDX-License-Identifier: MIT
// Pure helpers of the HTTP server: see http_util.hpp.
#include "http_util.hpp"

#include <ctime>

#include "request_parser.hpp"

namespace http {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

target_path resolve_target(std::string_view target) {
  target_path out;
  if (target.size() > 7 &&
      (iequals(target.substr(0, 7), "http://") || iequals(target.substr(0, 8), "https://"))) {
    target.remove_prefix(target.find("://") + 3);  // absolute form: drop scheme and authority
    const std::size_t slash = target.find('/');
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target.front() != '/') {
    out.status = 400;
    return out;
  }
  target = target.substr(0, target.find_first_of("?#"));
  out.directory = target.back() == '/';
  std::string segment;
  std::size_t i = 0;
  while (i <= target.size()) {
    const std::size_t end = target.find('/', i);
    const std::string_view raw =
        target.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    i = end == std::string_view::npos ? target.size() + 1 : end + 1;
    segment.clear();
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '%') {
        segment += raw[k];
        continue;
      }
      if (k + 2 >= raw.size()) {
        out.status = 400;
        return out;
      }
      const int hi = hex_value(raw[k + 1]);
      const int lo = hex_value(raw[k + 2]);
      if (hi < 0 || lo < 0) {
        out.status = 400;
        return out;
      }
      segment += static_cast<char>(hi * 16 + lo);
      k += 2;
    }
    if (segment.empty() || segment == ".") continue;
    if (segment == ".." || segment.find_first_of(std::string_view("\0/\\", 3)) != std::string::npos) {
      out.status = 403;
      out.path.clear();
      return out;
    }
    if (!out.path.empty()) out.path += '/';
    out.path += segment;
  }
  return out;
}

byte_range parse_range(std::string_view field, std::uint64_t size) noexcept {
  byte_range r;
  if (field.size() < 7 || !iequals(field.substr(0, 6), "bytes=")) return r;
  field.remove_prefix(6);
  const std::size_t dash = field.find('-');
  if (dash == std::string_view::npos || field.find(',') != std::string_view::npos) return r;
  const std::string_view a = field.substr(0, dash);
  const std::string_view b = field.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (a.empty()) {  // suffix: the last n bytes
    if (!parse_u64(b, last)) return r;
    if (last == 0 || size == 0) {
      r.kind = byte_range::unsatisfiable;
      return r;
    }
    r.kind = byte_range::satisfiable;
    r.first = last >= size ? 0 : size - last;
    r.last = size - 1;
    return r;
  }
  if (!parse_u64(a, first)) return r;
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!parse_u64(b, last) || last < first) {
    return r;
  }
  if (first >= size) {
    r.kind = byte_range::unsatisfiable;
    return r;
  }
  r.kind = byte_range::satisfiable;
  r.first = first;
  r.last = last >= size ? size - 1 : last;
  return r;
}

std::string_view content_type(std::string_view name) noexcept {
  struct entry {
    std::string_view extension;
    std::string_view type;
  };
  static constexpr entry table[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".csv", "text/csv; charset=utf-8"},
      {".xml", "application/xml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".pdf", "application/pdf"},
      {".wasm", "application/wasm"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".mp4", "video/mp4"},
      {".gz", "application/gzip"},
  };
  const std::size_t slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  for (const entry& e : table) {
    if (ends_with(name, e.extension)) return e.type;
  }
  return "application/octet-stream";
}

bool compressible(std::string_view type) noexcept {
  if (type.substr(0, 5) == "text/") return true;
  type = type.substr(0, type.find(';'));
  return type == "application/json" || type == "application/xml" || type == "image/svg+xml" ||
         type == "application/wasm";
}

bool etag_matches(std::string_view list, std::string_view etag) noexcept {
  if (etag.size() >= 2) etag = etag.substr(1, etag.size() - 2);  // compare the opaque parts
  while (!list.empty()) {
    while (!list.empty() && (list.front() == ' ' || list.front() == '\t' || list.front() == ',')) {
      list.remove_prefix(1);
    }
    if (list.empty()) break;
    if (list.front() == '*') return true;
    if (list.size() >= 2 && list[0] == 'W' && list[1] == '/') list.remove_prefix(2);
    if (list.empty() || list.front() != '"') return false;  // malformed: no match
    const std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(1, close - 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
  return false;
}

std::string http_date(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(text, n);
}

}  // namespace http
