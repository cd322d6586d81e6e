// SPDX-License-Identifier: MIT
// kv_server: a Redis-protocol (RESP2) key-value server on coring, with Redis's append-only file.
//
//   kv_server [--port N] [--bind ADDR] [--threads N] [--appendonly yes|no]
//             [--appendfsync always|everysec|no] [--dir DIR] [--appendfilename NAME]
//             [--auto-aof-rewrite-percentage P] [--auto-aof-rewrite-min-size BYTES]
//
// Structure (one process, `--threads` io loops, one CPU worker):
// - One task accepts; each connection is a task on the least loaded io loop (rt.io_balanced()),
//   a registered file of that loop's ring, receiving through one multishot receive into the
//   loop's provided buffers. It parses each received chunk in place (only a command cut by the
//   chunk's end is copied), runs every complete command under the store's mutex (one lock per
//   chunk, not per command), appends every reply to one buffer and sends it with one write:
//   pipelining costs one completion and one write per batch.
// - Commands that changed something are appended, as RESP records, to the log's pending buffer
//   (store.hpp's aof_log) under the same mutex. One writer task hands that buffer to the file
//   through the loop (pwrite), so the records of every connection that ran in the meantime go in
//   one write: a group commit. With appendfsync always it then calls fdatasync, and a connection
//   that wrote sends its replies only once the writer reports the batch's records synced; with
//   everysec and no, once they are written (so a crash of the process loses no acknowledged
//   write, as with Redis); everysec syncs once a second (an interval), no leaves it to the kernel.
// - The file is rewritten when it grows past --auto-aof-rewrite-min-size and by
//   --auto-aof-rewrite-percentage over its size after the last rewrite (or on BGREWRITEAOF): the
//   writer copies the keyspace under the mutex and starts mirroring new records into a rewrite
//   buffer; a task on the CPU pool serializes the copy into a temporary file and syncs it; the
//   writer then appends the rewrite buffer, syncs, renames it over the file and syncs the
//   directory. Until the rename every record also goes to the old file, so nothing is lost if
//   the rewrite fails or the process dies.
// - Expiry: lazy on access, plus a sweep every 100 ms with a bounded budget.
// - SIGINT/SIGTERM: stop accepting, shut the read side of every connection (each finishes the
//   batch it has and closes), wait up to 5 s for them, write and sync what the log still holds,
//   exit 0.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "resp.hpp"
#include "store.hpp"

namespace {

using namespace std::chrono_literals;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

enum class fsync_policy { always, everysec, no };

struct options {
  std::string bind = "127.0.0.1";
  long port = 6379;
  unsigned threads = 1;
  bool appendonly = false;
  fsync_policy appendfsync = fsync_policy::everysec;
  std::string dir = ".";
  std::string appendfilename = "appendonly.aof";
  long rewrite_percentage = 100;
  long long rewrite_min_size = 64LL * 1024 * 1024;
};

constexpr const char* usage_text =
    "usage: kv_server [--port N] [--bind ADDR] [--threads N] [--appendonly yes|no]\n"
    "                 [--appendfsync always|everysec|no] [--dir DIR] [--appendfilename NAME]\n"
    "                 [--auto-aof-rewrite-percentage P] [--auto-aof-rewrite-min-size SIZE]\n"
    "A Redis-protocol (RESP2) server. Defaults: --port 6379 (0: any free port), --bind 127.0.0.1,\n"
    "--threads 1, --appendonly no, --appendfsync everysec, --dir ., --appendfilename appendonly.aof,\n"
    "--auto-aof-rewrite-percentage 100 (0: never), --auto-aof-rewrite-min-size 64mb\n"
    "(SIZE: bytes, or with kb, mb, gb). Prints \"listening on ADDR:PORT\" once it accepts.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "kv_server: %s\n%s", what.c_str(), usage_text);
  std::exit(2);
}

std::optional<long long> parse_number(std::string_view s, long long max) {
  const auto v = kv::parse_int64(s);
  if (!v || *v < 0 || *v > max) return std::nullopt;
  return *v;
}

std::optional<long long> parse_size(std::string s) {
  long long unit = 1;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::pair<const char*, long long> units[] = {{"gb", 1LL << 30}, {"mb", 1LL << 20}, {"kb", 1LL << 10},
                                                     {"g", 1000000000}, {"m", 1000000},    {"k", 1000},
                                                     {"b", 1}};
  for (const auto& [suffix, factor] : units) {
    const std::size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) {
      s.resize(s.size() - n);
      unit = factor;
      break;
    }
  }
  const auto v = parse_number(s, (1LL << 50) / unit);
  if (!v) return std::nullopt;
  return *v * unit;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--help" || name == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("missing value for " + std::string(name));
    const std::string value = argv[++i];
    const auto bad = [&] { usage_error("bad value '" + value + "' for " + std::string(name)); };
    if (name == "--port") {
      const auto v = parse_number(value, 65535);
      if (!v) bad();
      o.port = static_cast<long>(*v);
    } else if (name == "--bind") {
      o.bind = value;
    } else if (name == "--threads") {
      const auto v = parse_number(value, 64);
      if (!v || *v == 0) bad();
      o.threads = static_cast<unsigned>(*v);
    } else if (name == "--appendonly") {
      if (value != "yes" && value != "no") bad();
      o.appendonly = value == "yes";
    } else if (name == "--appendfsync") {
      if (value == "always") {
        o.appendfsync = fsync_policy::always;
      } else if (value == "everysec") {
        o.appendfsync = fsync_policy::everysec;
      } else if (value == "no") {
        o.appendfsync = fsync_policy::no;
      } else {
        bad();
      }
    } else if (name == "--dir") {
      o.dir = value;
    } else if (name == "--appendfilename") {
      if (value.empty() || value.find('/') != std::string::npos) bad();
      o.appendfilename = value;
    } else if (name == "--auto-aof-rewrite-percentage") {
      const auto v = parse_number(value, 1000000);
      if (!v) bad();
      o.rewrite_percentage = static_cast<long>(*v);
    } else if (name == "--auto-aof-rewrite-min-size") {
      const auto v = parse_size(value);
      if (!v) bad();
      o.rewrite_min_size = *v;
    } else {
      usage_error("unknown option " + std::string(name));
    }
  }
  return o;
}

kv::unix_ms now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* policy_name(fsync_policy p) {
  return p == fsync_policy::always ? "always" : p == fsync_policy::everysec ? "everysec" : "no";
}

/// The state every task shares. Members under `mutex` are marked; the others are set before the
/// tasks start, are atomics, or belong to the writer task alone.
struct server {
  explicit server(options o, coring::runtime& r) : opts(std::move(o)), rt(r) {}

  const options opts;
  coring::runtime& rt;
  kv::config_list config;
  std::string aof_path;
  std::string temp_path;

  // --- under `mutex` ---
  std::mutex mutex;
  kv::keyspace data;
  kv::aof_log log;
  std::uint64_t durable = 0;  // records up to here are acknowledged (written, or synced with always)
  std::vector<std::pair<std::uint64_t, coring::async_event*>> waiters;
  bool stopping = false;
  bool sync_due = false;
  bool rewrite_requested = false;
  bool rewriting = false;
  std::optional<coring::result<coring::file>> rewrite_done;  // the rewritten file, from the CPU task
  std::uint64_t rewrite_snapshot_size = 0;
  std::unordered_set<int> connections;  // their descriptors, for shutdown(SHUT_RD) at stop

  coring::async_event work;  // wakes the writer
  std::atomic<long> active{0};

  // --- the writer task's ---
  coring::file aof;
  std::uint64_t aof_offset = 0;  // the file's size
  std::uint64_t base_size = 0;   // the size after the last rewrite (or at start)
};

// --- connections ------------------------------------------------------------------------------

/// Registers a connection's descriptor for the stop and counts it; unregisters in its destructor,
/// which runs before the stream (a parameter of the connection's task) closes.
struct connection_guard {
  server& srv;
  int fd;
  connection_guard(server& s, int f) : srv(s), fd(f) {
    std::lock_guard lock(srv.mutex);
    srv.connections.insert(fd);
    srv.active.fetch_add(1, std::memory_order_relaxed);
  }
  ~connection_guard() {
    std::lock_guard lock(srv.mutex);
    srv.connections.erase(fd);
    srv.active.fetch_sub(1, std::memory_order_release);
  }
  connection_guard(const connection_guard&) = delete;
  connection_guard& operator=(const connection_guard&) = delete;
};

/// One connection's protocol state: the parser, the bytes of a command that spans chunks, the
/// replies of the current batch.
class connection {
 public:
  explicit connection(server& srv) : srv_(srv), log_(srv.opts.appendonly ? &srv.log : nullptr) {}

  /// Runs every complete command of what was received so far plus `bytes` (views of `bytes`
  /// are used only in here). Returns false once the connection must close after its replies
  /// (QUIT, a protocol error). Sets `must_wait` when the batch wrote records the writer has not
  /// acknowledged yet (then `acknowledged` is set once it has).
  bool process(std::string_view bytes) {
    // Parse straight from the received chunk; only a command cut by the chunk's end is copied.
    const bool from_chunk = held_.empty();
    if (!from_chunk) held_.append(bytes);
    const std::string_view data = from_chunk ? bytes : std::string_view(held_);
    std::size_t pos = 0;
    bool open = true;
    bool wake_writer = false;
    must_wait = false;
    {
      std::lock_guard lock(srv_.mutex);
      kv::context ctx{srv_.data, client_, out, log_, now_ms(), &srv_.config};
      const std::uint64_t before = srv_.log.appended();
      while (pos < data.size()) {
        const kv::parse_status st = parser_.parse(data.substr(pos));
        if (st == kv::parse_status::incomplete) break;
        if (st == kv::parse_status::error) {
          kv::reply_error(out, "ERR " + parser_.error());
          open = false;
          break;
        }
        kv::execute(ctx, parser_.args());
        pos += parser_.consumed();
        if (client_.quit) {
          open = false;
          break;
        }
      }
      if (ctx.rewrite_requested && log_) {
        srv_.rewrite_requested = true;
        wake_writer = true;
      }
      const std::uint64_t mark = srv_.log.appended();
      if (mark != before) {
        wake_writer = true;
        if (mark > srv_.durable) {
          must_wait = true;
          acknowledged.reset();
          srv_.waiters.emplace_back(mark, &acknowledged);
        }
      }
    }
    // The parser remembers offsets from the start of the command in progress: keep its bytes.
    if (from_chunk) {
      held_.assign(data.substr(pos));
    } else {
      held_.erase(0, pos);
    }
    if (!held_.empty() && parser_.needed() > held_.capacity()) {
      held_.reserve(std::min<std::size_t>(parser_.needed(), 64 * 1024 * 1024));  // a large bulk
    } else if (held_.capacity() > 1024 * 1024 && held_.size() < 64 * 1024) {
      held_.shrink_to_fit();
    }
    if (wake_writer) srv_.work.set();
    return open;
  }

  std::string out;  // the replies of the batch, sent with one write
  bool must_wait = false;
  coring::async_event acknowledged;

 private:
  server& srv_;
  kv::aof_log* log_;
  kv::resp_parser parser_;
  kv::session client_;
  std::string held_;  // the received bytes of the command in progress, when it spans chunks
};

coring::task<void> serve_connection(tcp_stream s, server& srv) {
  connection_guard guard(srv, s.native_handle());
  (void)co_await s.register_in_ring();  // a fixed file: no descriptor lookup per operation
  connection c(srv);
  auto chunks = s.receive_chunks();  // one multishot receive into the loop's buffer ring
  for (bool open = true; open;) {
    {
      auto chunk = co_await chunks.next();
      if (!chunk || chunk->empty()) break;  // an error, or the peer closed (or the stop's SHUT_RD)
      const auto bytes = chunk->bytes();
      open = c.process(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    }  // the chunk's buffer goes back to the ring before the replies are sent
    if (c.must_wait) co_await c.acknowledged.wait();  // the writer set it: the records are in the file
    if (!c.out.empty()) {
      if (!co_await s.write_all(std::string_view(c.out))) break;
      if (c.out.capacity() > 1024 * 1024) {
        std::string().swap(c.out);
      } else {
        c.out.clear();
      }
    }
  }
}

bool transient(std::error_code e) {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::not_enough_memory || e == std::errc::no_buffer_space ||
         e == std::errc::connection_aborted;
}

coring::task<void> accept_connections(tcp_listener& listener, server& srv) {
  auto incoming = listener.incoming();
  for (;;) {
    auto s = co_await incoming.next();
    if (!s) {
      if (!transient(s.error())) co_return;  // canceled (the stop), or the listener failed
      std::fprintf(stderr, "kv_server: accept: %s; retrying\n", s.error().message().c_str());
      (void)co_await coring::sleep_for(10ms);
      continue;
    }
    coring::spawn_detached(srv.rt.io_balanced(), serve_connection(std::move(*s), srv));
  }
}

// --- expiry -----------------------------------------------------------------------------------

coring::task<void> sweep_expired(server& srv) {
  constexpr std::size_t budget = 2000;  // entries and buckets looked at per round
  coring::interval ticks(100ms, coring::missed_tick::skip);
  while (co_await ticks.tick()) {
    // Up to 8 rounds while a quarter of what a round looked at had expired (Redis's idea).
    for (int round = 0; round < 8; ++round) {
      std::lock_guard lock(srv.mutex);
      if (srv.data.sweep(now_ms(), budget) < budget / 4) break;
    }
  }
}

// --- the append-only file ---------------------------------------------------------------------

void wake_waiters(server& srv) {  // under srv.mutex
  auto& w = srv.waiters;
  std::size_t kept = 0;
  for (auto& item : w) {
    if (item.first <= srv.durable) {
      item.second->set();
    } else {
      w[kept++] = item;
    }
  }
  w.resize(kept);
}

coring::task<coring::result<void>> sync_directory(const std::string& dir) {
  auto d = co_await coring::file::open(dir, O_RDONLY | O_DIRECTORY);
  if (!d) co_return d.error();
  auto r = co_await d->sync();
  (void)co_await d->close();
  co_return r;
}

/// On the CPU pool: the snapshot's records into the temporary file, synced.
coring::task<void> rewrite_on_cpu(server& srv, std::unique_ptr<kv::keyspace> snapshot, kv::unix_ms now) {
  co_await coring::on(srv.rt.cpu());
  std::string records;
  kv::serialize(*snapshot, now, records);
  snapshot.reset();
  coring::result<coring::file> made =
      co_await coring::file::open(srv.temp_path, O_WRONLY | O_CREAT | O_TRUNC);
  if (made) {
    auto w = co_await made->write_all(std::as_bytes(std::span<const char>(records)), 0);
    if (w) w = co_await made->datasync();
    if (!w) made = w.error();
  }
  std::lock_guard lock(srv.mutex);
  srv.rewrite_snapshot_size = records.size();
  srv.rewrite_done.emplace(std::move(made));
  srv.work.set();
}

/// The writer's half of a rewrite: the records that came meanwhile, sync, rename, switch files.
/// `batch` receives, on failure, the pending records the old file still needs.
coring::task<void> finish_rewrite(server& srv, std::string& batch) {
  std::optional<coring::result<coring::file>> done;
  std::string tail;
  std::string leftover;
  std::uint64_t covered = 0;
  std::uint64_t snapshot_size = 0;
  {
    std::lock_guard lock(srv.mutex);
    done = std::move(srv.rewrite_done);
    srv.rewrite_done.reset();
    srv.rewriting = false;
    snapshot_size = srv.rewrite_snapshot_size;
    tail = std::move(srv.log.rewrite_buffer());
    leftover = std::move(srv.log.pending());  // a suffix of tail
    srv.log.pending().clear();
    covered = srv.log.appended();
    srv.log.mirror(false);
  }
  coring::result<void> ok = done->has_value() ? coring::result<void>{} : coring::result<void>{done->error()};
  if (ok) {
    coring::file& f = **done;
    ok = co_await f.write_all(std::as_bytes(std::span<const char>(tail)), snapshot_size);
    if (ok) ok = co_await f.datasync();
    if (ok) ok = co_await coring::fs::rename(srv.temp_path, srv.aof_path);
    if (ok) {
      (void)co_await sync_directory(srv.opts.dir);
      (void)co_await srv.aof.close();
      srv.aof = std::move(f);
      srv.aof_offset = srv.base_size = snapshot_size + tail.size();
      std::lock_guard lock(srv.mutex);
      srv.durable = std::max(srv.durable, covered);
      wake_waiters(srv);
      std::fprintf(stderr, "kv_server: append-only file rewritten (%llu bytes)\n",
                   static_cast<unsigned long long>(srv.aof_offset));
      co_return;
    }
  }
  std::fprintf(stderr, "kv_server: append-only file rewrite failed: %s\n", ok.error().message().c_str());
  srv.base_size = srv.aof_offset;  // the next try waits until the file has grown as much again
  if (done->has_value()) (void)co_await (*done)->close();
  (void)co_await coring::fs::remove(srv.temp_path);
  batch = std::move(leftover);  // the old file goes on; it still needs these
}

void start_rewrite(server& srv) {  // on the writer's loop
  std::unique_ptr<kv::keyspace> snapshot;
  {
    std::lock_guard lock(srv.mutex);
    srv.rewrite_requested = false;
    if (srv.rewriting) return;
    srv.rewriting = true;
    snapshot = std::make_unique<kv::keyspace>(srv.data);
    srv.log.mirror(true);
  }
  coring::spawn_detached(srv.rt.cpu(), rewrite_on_cpu(srv, std::move(snapshot), now_ms()));
}

coring::task<void> aof_writer(server& srv) {
  const bool always = srv.opts.appendfsync == fsync_policy::always;
  std::string batch;
  std::uint64_t written = 0;  // records up to here are in the file
  bool dirty = false;         // written since the last sync
  for (;;) {
    srv.work.reset();
    bool stop = false;
    bool sync_now = false;
    bool rewrite_ready = false;
    bool rewrite_wanted = false;
    std::uint64_t batch_end = 0;
    {
      std::lock_guard lock(srv.mutex);
      if (batch.empty()) {
        batch.swap(srv.log.pending());
      } else {
        batch += srv.log.pending();
        srv.log.pending().clear();
      }
      batch_end = srv.log.appended();
      stop = srv.stopping && !srv.rewriting;
      sync_now = srv.sync_due || stop;
      srv.sync_due = false;
      rewrite_ready = srv.rewrite_done.has_value();
      rewrite_wanted = srv.rewrite_requested;
    }
    if (!batch.empty()) {
      auto w = co_await srv.aof.write_all(std::as_bytes(std::span<const char>(batch)), srv.aof_offset);
      if (!w) {
        std::fprintf(stderr, "kv_server: writing the append-only file: %s; retrying in 1 s\n",
                     w.error().message().c_str());
        (void)co_await coring::sleep_for(1s);
        continue;
      }
      srv.aof_offset += batch.size();
      batch.clear();
      written = batch_end;
      dirty = true;
    }
    std::uint64_t acknowledged = always ? 0 : written;
    if (dirty && (always || sync_now)) {
      auto r = co_await srv.aof.datasync();
      if (r) {
        dirty = false;
      } else {
        std::fprintf(stderr, "kv_server: fdatasync of the append-only file: %s\n",
                     r.error().message().c_str());
        if (always) {
          (void)co_await coring::sleep_for(1s);
          continue;
        }
      }
    }
    if (always && !dirty) acknowledged = written;
    {
      std::lock_guard lock(srv.mutex);
      if (acknowledged > srv.durable) {
        srv.durable = acknowledged;
        wake_waiters(srv);
      }
    }
    if (rewrite_ready) {
      co_await finish_rewrite(srv, batch);
      continue;  // `batch` may hold records again
    }
    const auto pct = static_cast<std::uint64_t>(srv.opts.rewrite_percentage);
    if (rewrite_wanted ||
        (pct > 0 && srv.aof_offset >= static_cast<std::uint64_t>(srv.opts.rewrite_min_size) &&
         srv.aof_offset >= srv.base_size + srv.base_size * pct / 100)) {
      start_rewrite(srv);
    }
    if (stop) {
      std::lock_guard lock(srv.mutex);
      if (srv.log.pending().empty() && batch.empty() && !dirty) co_return;
      continue;
    }
    co_await srv.work.wait();
  }
}

coring::task<void> request_syncs(server& srv) {
  coring::interval ticks(1s, coring::missed_tick::skip);
  while (co_await ticks.tick()) {
    {
      std::lock_guard lock(srv.mutex);
      srv.sync_due = true;
    }
    srv.work.set();
  }
}

/// Runs every record of the file (at start, before anything else runs). A truncated last record
/// is cut off with a warning (what redis-check-aof --fix does); anything else malformed is fatal.
coring::task<bool> replay(server& srv) {
  auto content = co_await coring::fs::read_file(srv.aof_path);
  if (!content) {
    if (content.error() == std::errc::no_such_file_or_directory) co_return true;
    std::fprintf(stderr, "kv_server: reading %s: %s\n", srv.aof_path.c_str(),
                 content.error().message().c_str());
    co_return false;
  }
  const std::string_view data = *content;
  kv::resp_parser parser;
  kv::session client;
  std::string discard;
  std::size_t pos = 0;
  std::size_t commands = 0;
  const kv::unix_ms now = now_ms();
  while (pos < data.size()) {
    if (data[pos] != '*') {
      std::fprintf(stderr, "kv_server: bad file format reading the append only file %s at byte %zu\n",
                   srv.aof_path.c_str(), pos);
      co_return false;
    }
    const kv::parse_status st = parser.parse(data.substr(pos));
    if (st == kv::parse_status::error) {
      std::fprintf(stderr, "kv_server: bad file format reading the append only file %s at byte %zu: %s\n",
                   srv.aof_path.c_str(), pos, parser.error().c_str());
      co_return false;
    }
    if (st == kv::parse_status::incomplete) {
      std::fprintf(
          stderr,
          "kv_server: !!! Warning: short read while loading the AOF file %s: the last %zu bytes are an "
          "incomplete record; truncating the file to %zu bytes (as redis-check-aof --fix would)\n",
          srv.aof_path.c_str(), data.size() - pos, pos);
      if (::truncate(srv.aof_path.c_str(), static_cast<off_t>(pos)) != 0) {
        std::fprintf(stderr, "kv_server: truncate: %s\n", std::strerror(errno));
        co_return false;
      }
      break;
    }
    kv::context ctx{srv.data, client, discard, nullptr, now, nullptr};
    kv::execute(ctx, parser.args());
    discard.clear();
    pos += parser.consumed();
    ++commands;
  }
  srv.aof_offset = srv.base_size = pos;
  std::fprintf(stderr, "kv_server: replayed %zu commands from %s (%zu keys)\n", commands,
               srv.aof_path.c_str(), srv.data.size());
  co_return true;
}

// --- main -------------------------------------------------------------------------------------

coring::task<coring::result<coring::file>> open_file(std::string path, int flags) {
  co_return co_await coring::file::open(std::move(path), flags);
}

coring::task<void> stop_connections(server& srv) {
  {
    std::lock_guard lock(srv.mutex);
    for (int fd : srv.connections) ::shutdown(fd, SHUT_RD);  // a pending read ends with 0 bytes
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (srv.active.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < deadline) {
    (void)co_await coring::sleep_for(10ms);
  }
}

coring::task<int> run(server& srv, tcp_listener& listener, coring::signal_set& stop) {
  std::optional<coring::join_handle<void>> writer;
  std::optional<coring::join_handle<void>> syncs;
  if (srv.opts.appendonly) {
    writer.emplace(coring::spawn(srv.rt.io(), aof_writer(srv)));
    if (srv.opts.appendfsync == fsync_policy::everysec)
      syncs.emplace(coring::spawn(srv.rt.io(), request_syncs(srv)));
  }
  auto sweeper = coring::spawn(srv.rt.io(), sweep_expired(srv));
  auto ended = co_await coring::when_any(accept_connections(listener, srv), stop.wait());
  if (ended.index == 1) {
    const auto signo = std::get<1>(ended.value);
    if (signo) std::fprintf(stderr, "kv_server: got SIG%s, stopping\n", ::sigabbrev_np(*signo));
  }
  co_await stop_connections(srv);
  sweeper.cancel();
  try {
    co_await sweeper;
  } catch (const std::system_error&) {
  }
  if (syncs) {
    syncs->cancel();
    try {
      co_await *syncs;
    } catch (const std::system_error&) {
    }
  }
  if (writer) {
    {
      std::lock_guard lock(srv.mutex);
      srv.stopping = true;
    }
    srv.work.set();
    co_await *writer;  // writes and syncs what is left (and finishes a rewrite in progress)
  }
  co_return ended.index == 1 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options opts = parse_options(argc, argv);
  coring::signal_set stop{SIGINT, SIGTERM};  // before the runtime: its threads inherit the mask
  coring::runtime rt{{.io_threads = opts.threads, .cpu_threads = 1}};
  server srv(opts, rt);
  srv.aof_path = opts.dir + "/" + opts.appendfilename;
  srv.temp_path = opts.dir + "/temp-rewriteaof-" + std::to_string(::getpid()) + ".aof";
  srv.config = {{"appendfilename", opts.appendfilename},
                {"appendfsync", policy_name(opts.appendfsync)},
                {"appendonly", opts.appendonly ? "yes" : "no"},
                {"auto-aof-rewrite-min-size", std::to_string(opts.rewrite_min_size)},
                {"auto-aof-rewrite-percentage", std::to_string(opts.rewrite_percentage)},
                {"bind", opts.bind},
                {"databases", std::to_string(kv::database_count)},
                {"dir", opts.dir},
                {"port", std::to_string(opts.port)},
                {"save", ""}};
  if (opts.appendonly) {
    if (!rt.block_on(replay(srv))) return 1;
    auto f = rt.block_on(open_file(srv.aof_path, O_WRONLY | O_CREAT));
    if (!f) {
      std::fprintf(stderr, "kv_server: opening %s: %s\n", srv.aof_path.c_str(), f.error().message().c_str());
      return 1;
    }
    srv.aof = std::move(*f);
    (void)rt.block_on(sync_directory(srv.opts.dir));  // a file just made is durable from the start
  }
  const std::string address = (opts.bind.find(':') != std::string::npos ? "[" + opts.bind + "]" : opts.bind) +
                              ":" + std::to_string(opts.port);
  const auto ep = endpoint::parse(address);
  if (!ep) usage_error("bad value '" + opts.bind + "' for --bind");
  auto listener = tcp_listener::bind(*ep, coring::net::listen_options{.no_delay = true});
  if (!listener) {
    std::fprintf(stderr, "kv_server: bind %s: %s\n", address.c_str(), listener.error().message().c_str());
    return 1;
  }
  std::printf("listening on %s\n", listener->local_endpoint().value().to_string().c_str());
  std::fflush(stdout);
  const int status = rt.block_on(run(srv, *listener, stop));
  // Connections that outlived the grace period still refer to `srv`: end them while it exists.
  rt.shutdown();
  return status;
}
