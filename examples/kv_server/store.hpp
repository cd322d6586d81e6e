// SPDX-License-Identifier: MIT
// kv::keyspace and kv::execute: the data (16 databases of string keys, each with an optional
// absolute expiry time), the commands that read and change it, the glob matcher of KEYS, and
// kv::aof_log, which turns the commands that changed something into the records of the
// append-only file. Pure: no coring, no I/O, no clock (the caller passes the time), so tests and
// the replay at start drive it directly.
//
// Thread safety: none. The server serializes every call on one keyspace (and its log) under one
// mutex; a connection's `session` is its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kv {

inline constexpr int database_count = 16;

/// Milliseconds since the Unix epoch (what PEXPIREAT takes).
using unix_ms = std::int64_t;

struct entry {
  std::string value;
  unix_ms expires_at = 0;  // 0: never
};

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using database = std::unordered_map<std::string, entry, string_hash, std::equal_to<>>;

/// Redis's stringmatchlen without nocase: `*`, `?`, `[abc]`, `[^a-z]`, and `\` quoting the next
/// character.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// The records the append-only file gets: each command as a RESP request, after a SELECT when its
/// database is not the one of the previous record. While a rewrite runs (`mirror(true)`), every
/// record also goes to the rewrite buffer: what the rewritten file must get after its snapshot.
class aof_log {
 public:
  void append(int db, std::span<const std::string_view> args);
  void append(int db, std::initializer_list<std::string_view> args) {
    append(db, std::span<const std::string_view>(args.begin(), args.size()));
  }
  /// Bytes appended since the start: the sequence number a connection waits for.
  std::uint64_t appended() const noexcept { return appended_; }
  /// Records not yet handed to the file.
  std::string& pending() noexcept { return pending_; }
  /// Starts (true) or stops (false) copying records to rewrite_buffer(); starting clears it and
  /// makes the next record begin with a SELECT.
  void mirror(bool on);
  bool mirroring() const noexcept { return mirror_; }
  std::string& rewrite_buffer() noexcept { return rewrite_; }

 private:
  std::string pending_;
  std::string rewrite_;
  std::uint64_t appended_ = 0;
  int db_ = -1;  // the database the last record ran in (-1: the next record selects one)
  bool mirror_ = false;
};

/// The server's settings CONFIG GET reports (name, value).
using config_list = std::vector<std::pair<std::string, std::string>>;

struct keyspace {
  std::array<database, database_count> dbs;
  std::array<std::size_t, database_count> sweep_cursor{};  // the next bucket the active sweep visits

  /// The entry of `key` if it exists and has not expired; an expired one is deleted (lazy expiry).
  entry* find(int db, std::string_view key, unix_ms now);
  /// Deletes up to `budget` expired keys among the next `budget` entries looked at, database by
  /// database from where the last call stopped; gives how many it deleted.
  std::size_t sweep(unix_ms now, std::size_t budget);
  std::size_t size() const noexcept;
};

/// What one connection carries from command to command.
struct session {
  int db = 0;
  bool quit = false;  // QUIT: send the replies so far, then close
};

struct context {
  keyspace& data;
  session& client;
  std::string& out;        // replies are appended here
  aof_log* log = nullptr;  // null: nothing is recorded (replay at start, AOF off)
  unix_ms now = 0;
  const config_list* config = nullptr;
  bool rewrite_requested = false;  // BGREWRITEAOF asked for one
};

/// Runs one command (args[0] is its name, any case) and appends its reply.
void execute(context& ctx, std::span<const std::string_view> args);

/// The records that rebuild `data` as it is at `now` (expired keys left out): SELECT, then one
/// SET per key (with PXAT when it expires). Appended to `out`.
void serialize(const keyspace& data, unix_ms now, std::string& out);

}  // namespace kv
