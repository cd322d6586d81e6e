// SPDX-License-Identifier: MIT
// server and serve_connection: see server.hpp.
//
// A connection's loop:
//   1. parse every complete request the receive buffer holds and append its response to the
//      output buffer (a file's content comes from file_cache: small ones from memory, large ones
//      read through the ring and written in chunks);
//   2. write the output buffer: one write for a whole pipelined batch;
//   3. read more, with the idle timeout when no request has begun, or what is left of the header
//      timeout when one has (a client that trickles its head is closed with 408 when it runs out).
// A malformed request (or one over a limit) is answered, then the connection is closed: the
// writing side first, and what the client still sends is drained for a moment so that the kernel
// does not answer it with a reset that would destroy the response in flight.
#include "server.hpp"

#include <sys/socket.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "http_util.hpp"

namespace {

using namespace std::chrono_literals;
using coring::net::tcp_stream;
using std::chrono::steady_clock;

constexpr std::size_t flush_threshold = 64 * 1024;  // output buffered before a write mid-batch
constexpr std::size_t inline_body_max = 16 * 1024;  // bodies copied into the output buffer
constexpr std::size_t file_chunk = 64 * 1024;       // reads of files served from disk

std::string_view reason(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

/// The Date field's value, formatted once a second per thread.
std::string_view date_now() {
  thread_local std::time_t shown = -1;
  thread_local std::string text;
  const std::time_t now = std::time(nullptr);
  if (now != shown) {
    text = http::http_date(std::chrono::system_clock::from_time_t(now));
    shown = now;
  }
  return text;
}

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  out.append(digits, end);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

/// Status line, Server and Date.
void append_start(std::string& out, int status) {
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  out += reason(status);
  out += "\r\nServer: coring-http\r\nDate: ";
  out += date_now();
  out += "\r\n";
}

/// A complete small response for an error (text body "404 Not Found\n").
/// `extra` holds more fields, each ended by CRLF.
void append_error(std::string& out, int status, bool close, bool head_only, std::string_view extra = {}) {
  append_start(out, status);
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += extra;
  if (close) out += "Connection: close\r\n";
  const std::string_view text = reason(status);
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  append_number(out, 3 + 1 + text.size() + 1);
  out += "\r\n\r\n";
  if (head_only) return;
  append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  out += text;
  out += '\n';
}

class connection {
 public:
  connection(server& srv, tcp_stream& stream) : srv_(srv), stream_(stream), parser_(srv.options().limits) {
    in_.resize(srv.options().limits.max_head_bytes + 8192);
    if (srv.options().access_log) {
      auto peer = stream.peer_endpoint();
      peer_ = peer ? peer->to_string() : "-";
    }
  }

  coring::task<void> run();

 private:
  coring::task<bool> respond(const http::request& req);
  coring::task<bool> send_file(const file_entry& entry, std::uint64_t first, std::uint64_t length);
  coring::task<bool> consume(std::size_t head, std::uint64_t body);
  coring::task<bool> flush();
  coring::task<bool> write_with(std::string_view body);
  coring::task<void> close_after_error(int status);
  void log(const http::request& req, int status, std::uint64_t bytes) const;

  server& srv_;
  tcp_stream& stream_;
  http::request_parser parser_;
  http::request req_;
  std::string in_;  // received bytes: [begin_, end_) not consumed yet
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::string out_;                // responses not written yet
  std::unique_ptr<char[]> chunk_;  // for files served from disk, made on first use
  std::string peer_;               // for the access log
};

coring::task<void> connection::run() {
  const server_options& opt = srv_.options();
  auto head_deadline = steady_clock::time_point::max();
  for (;;) {
    // 1. Answer every complete request already received.
    while (begin_ < end_) {
      const std::string_view pending(in_.data() + begin_, end_ - begin_);
      const http::parse_state state = parser_.parse(pending, req_);
      if (state == http::parse_state::need_more) break;
      if (state == http::parse_state::failed) {
        co_await close_after_error(parser_.error_status());
        co_return;
      }
      head_deadline = steady_clock::time_point::max();
      const bool keep = co_await respond(req_);
      if (!keep) {
        if (co_await flush()) (void)stream_.shutdown(SHUT_WR);
        co_return;
      }
      if (!co_await consume(req_.head_size, req_.content_length)) co_return;
      parser_.reset();
      if (out_.size() >= flush_threshold && !co_await flush()) co_return;
    }
    // 2. One write for the batch.
    if (!out_.empty() && !co_await flush()) co_return;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {  // keep the partial request at the front (the parser's scan stays valid)
      std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    // 3. Read more: an idle connection gets the idle timeout, a started head what is left of the
    // header timeout.
    std::chrono::nanoseconds limit = opt.idle_timeout;
    const bool started = end_ > 0;
    if (started) {
      const auto now = steady_clock::now();
      if (head_deadline == steady_clock::time_point::max()) head_deadline = now + opt.header_timeout;
      limit = head_deadline - now;
      if (limit <= 0ns) {
        co_await close_after_error(408);
        co_return;
      }
    } else if (srv_.stopping()) {
      co_return;
    }
    const coring::result<std::size_t> n =
        co_await coring::timeout(limit, stream_.read(std::span<char>(in_.data() + end_, in_.size() - end_)));
    if (!n || *n == 0) {
      if (started && !n && n.error() == std::errc::timed_out) co_await close_after_error(408);
      co_return;
    }
    end_ += *n;
  }
}

coring::task<bool> connection::respond(const http::request& req) {
  const bool head = req.method == "HEAD";
  const bool keep = req.keep_alive && !srv_.stopping();
  if (!head && req.method != "GET") {
    append_error(out_, 405, !keep, false);
    log(req, 405, 0);
    co_return keep;
  }
  const http::target_path target = http::resolve_target(req.target);
  if (target.status != 0) {
    append_error(out_, target.status, !keep, head);
    log(req, target.status, 0);
    co_return keep;
  }
  const file_lookup found = co_await srv_.files().find(target.path);
  if (found.status != 200) {
    append_error(out_, found.status, !keep, head);
    log(req, found.status, 0);
    co_return keep;
  }
  const file_entry& file = *found.entry;
  // "/file.txt/" names no directory: only a directory's index.html answers a target ending in '/'.
  if (target.directory && !found.directory_index) {
    append_error(out_, 404, !keep, head);
    log(req, 404, 0);
    co_return keep;
  }

  // Which representation: gzip when kept, asked for, and no range is asked (ranges are of the
  // identity representation).
  const bool gzip_type = srv_.options().gzip && http::compressible(file.type);
  const bool use_gzip = file.gzip && req.range.empty() && http::has_token(req.accept_encoding, "gzip");
  const std::string_view etag = use_gzip ? std::string_view(file.gzip_etag) : std::string_view(file.etag);
  const auto common_fields = [&] {
    append_field(out_, "ETag", etag);
    append_field(out_, "Last-Modified", file.last_modified);
    if (gzip_type) out_ += "Vary: Accept-Encoding\r\n";
    if (!keep)
      out_ += "Connection: close\r\n";
    else if (req.minor_version == 0)
      out_ += "Connection: keep-alive\r\n";
  };

  if (!req.if_none_match.empty() && http::etag_matches(req.if_none_match, etag)) {
    append_start(out_, 304);
    common_fields();
    out_ += "\r\n";
    log(req, 304, 0);
    co_return keep;
  }

  const http::byte_range range =
      use_gzip || req.range.empty() ? http::byte_range{} : http::parse_range(req.range, file.size);
  if (range.kind == http::byte_range::unsatisfiable) {
    std::string unsatisfied = "Content-Range: bytes */";
    append_number(unsatisfied, file.size);
    unsatisfied += "\r\n";
    append_error(out_, 416, !keep, head, unsatisfied);
    log(req, 416, 0);
    co_return keep;
  }

  const int status = range.kind == http::byte_range::satisfiable ? 206 : 200;
  const std::uint64_t first = status == 206 ? range.first : 0;
  const std::uint64_t length = status == 206 ? range.length() : use_gzip ? file.gzip->size() : file.size;
  append_start(out_, status);
  append_field(out_, "Content-Type", file.type);
  out_ += "Content-Length: ";
  append_number(out_, length);
  out_ += "\r\nAccept-Ranges: bytes\r\n";
  if (use_gzip) out_ += "Content-Encoding: gzip\r\n";
  if (status == 206) {
    out_ += "Content-Range: bytes ";
    append_number(out_, range.first);
    out_ += '-';
    append_number(out_, range.last);
    out_ += '/';
    append_number(out_, file.size);
    out_ += "\r\n";
  }
  common_fields();
  out_ += "\r\n";
  log(req, status, head ? 0 : length);
  if (head || length == 0) co_return keep;

  const std::shared_ptr<const std::string>& kept = use_gzip ? file.gzip : file.content;
  if (kept) {
    const std::string_view body =
        std::string_view(*kept).substr(static_cast<std::size_t>(first), static_cast<std::size_t>(length));
    if (body.size() <= inline_body_max) {
      out_ += body;
      co_return keep;
    }
    co_return co_await write_with(body) && keep;
  }
  co_return co_await send_file(file, first, length) && keep;
}

/// Writes the output buffer and then `body` (gathered: one sendmsg while both fit).
coring::task<bool> connection::write_with(std::string_view body) {
  const std::chrono::nanoseconds limit = srv_.options().idle_timeout;
  std::string_view head = out_;
  while (!head.empty() || !body.empty()) {
    iovec parts[2] = {{const_cast<char*>(head.data()), head.size()},
                      {const_cast<char*>(body.data()), body.size()}};
    const coring::result<std::size_t> n =
        co_await coring::timeout(limit, stream_.write(std::span<const iovec>(parts, 2)));
    if (!n || *n == 0) co_return false;
    std::size_t done = *n;
    const std::size_t from_head = done < head.size() ? done : head.size();
    head.remove_prefix(from_head);
    body.remove_prefix(done - from_head);
  }
  out_.clear();
  co_return true;
}

/// A file too large to keep: read through the ring in chunks and written as it comes.
coring::task<bool> connection::send_file(const file_entry& entry, std::uint64_t first, std::uint64_t length) {
  coring::result<coring::file> opened = co_await srv_.files().open(entry);
  if (!opened) co_return false;  // the head is out already: the client sees a short body
  if (!co_await flush()) co_return false;
  if (!chunk_) chunk_ = std::make_unique<char[]>(file_chunk);
  std::uint64_t offset = first;
  const std::uint64_t end = first + length;
  while (offset < end) {
    const std::size_t want = static_cast<std::size_t>(end - offset < file_chunk ? end - offset : file_chunk);
    const coring::result<std::size_t> n =
        co_await opened->read_at(std::span<char>(chunk_.get(), want), offset);
    if (!n || *n == 0) co_return false;  // the file shrank: the client sees a short body
    out_.clear();
    if (!co_await write_with(std::string_view(chunk_.get(), *n))) co_return false;
    offset += *n;
  }
  (void)co_await opened->close();
  co_return true;
}

/// Drops the request's head and body from the receive buffer, reading (and discarding) the part
/// of the body not received yet.
coring::task<bool> connection::consume(std::size_t head, std::uint64_t body) {
  const std::size_t have = end_ - begin_ - head;
  if (body <= have) {
    begin_ += head + static_cast<std::size_t>(body);
    co_return true;
  }
  std::uint64_t missing = body - have;
  begin_ = end_ = 0;
  while (missing > 0) {
    const coring::result<std::size_t> n =
        co_await coring::timeout(srv_.options().idle_timeout, stream_.read(std::span<char>(in_)));
    if (!n || *n == 0) co_return false;
    if (*n <= missing) {
      missing -= *n;
    } else {  // the next request begins in this read
      begin_ = static_cast<std::size_t>(missing);
      end_ = *n;
      missing = 0;
    }
  }
  co_return true;
}

coring::task<bool> connection::flush() {
  std::string_view left = out_;
  while (!left.empty()) {
    const coring::result<std::size_t> n =
        co_await coring::timeout(srv_.options().idle_timeout, stream_.write(std::span<const char>(left)));
    if (!n || *n == 0) co_return false;
    left.remove_prefix(*n);
  }
  out_.clear();
  co_return true;
}

/// Answers `status`, closes the writing side, and drains what the client still sends for a
/// moment (bounded in time and bytes) before the socket is closed.
coring::task<void> connection::close_after_error(int status) {
  append_error(out_, status, true, false);
  if (srv_.options().access_log) {
    std::fprintf(stderr, "%s \"-\" %d 0\n", peer_.c_str(), status);
  }
  if (!co_await flush()) co_return;
  (void)stream_.shutdown(SHUT_WR);
  const auto until = steady_clock::now() + 500ms;
  for (std::size_t drained = 0; drained < (1 << 20);) {
    const auto left = until - steady_clock::now();
    if (left <= 0ns) break;
    const coring::result<std::size_t> n = co_await coring::timeout(left, stream_.read(std::span<char>(in_)));
    if (!n || *n == 0) break;
    drained += *n;
  }
}

void connection::log(const http::request& req, int status, std::uint64_t bytes) const {
  if (!srv_.options().access_log) return;
  std::fprintf(stderr, "%s \"%.*s %.*s HTTP/1.%d\" %d %llu\n", peer_.c_str(),
               static_cast<int>(req.method.size()), req.method.data(), static_cast<int>(req.target.size()),
               req.target.data(), req.minor_version, status, static_cast<unsigned long long>(bytes));
}

}  // namespace

bool server::try_admit() noexcept {
  std::size_t open = open_.load(std::memory_order_relaxed);
  do {
    if (open >= options_.max_connections) return false;
  } while (!open_.compare_exchange_weak(open, open + 1, std::memory_order_acq_rel));
  return true;
}

bool server::enter(int fd) {
  std::lock_guard lock(mutex_);
  if (stopping_.load(std::memory_order_relaxed)) return false;
  sockets_.insert(fd);
  return true;
}

void server::leave(int fd) noexcept {
  {
    std::lock_guard lock(mutex_);
    sockets_.erase(fd);
  }
  open_.fetch_sub(1, std::memory_order_acq_rel);
}

void server::stop() {
  std::lock_guard lock(mutex_);
  stopping_.store(true, std::memory_order_release);
  // A read waiting for a next request returns 0; requests already received are still answered.
  for (const int fd : sockets_) ::shutdown(fd, SHUT_RD);
}

coring::task<void> serve_connection(server& srv, tcp_stream stream) {
  const int fd = stream.native_handle();
  if (!srv.enter(fd)) {
    srv.leave(fd);
    co_return;
  }
  struct leave_on_exit {  // before the stream closes (it is destroyed after this guard)
    server& srv;
    int fd;
    ~leave_on_exit() { srv.leave(fd); }
  } guard{srv, fd};
  (void)co_await stream.register_in_ring();  // fixed file: no descriptor lookup per operation
  connection c(srv, stream);
  co_await c.run();
}

coring::task<void> refuse_connection(tcp_stream stream) {
  std::string out;
  append_error(out, 503, true, false);
  if (!co_await coring::timeout(1s, stream.write(std::span<const char>(out)))) co_return;
  (void)stream.shutdown(SHUT_WR);
  char sink[4096];
  const auto until = steady_clock::now() + 500ms;
  for (;;) {  // drain the request so that closing does not reset the connection
    const auto left = until - steady_clock::now();
    if (left <= 0ns) break;
    const auto n = co_await coring::timeout(left, stream.read(std::span<char>(sink)));
    if (!n || *n == 0) break;
  }
}
