// SPDX-License-Identifier: MIT
// The commands (see store.hpp). Replies and error texts are Redis 7's, byte for byte.
#include "store.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>

#include "resp.hpp"

namespace kv {

// --- glob -------------------------------------------------------------------------------------

bool glob_match(std::string_view p, std::string_view s) noexcept {
  std::size_t pi = 0;
  std::size_t si = 0;
  while (pi < p.size() && si <= s.size()) {
    switch (p[pi]) {
      case '*': {
        while (pi + 1 < p.size() && p[pi + 1] == '*') ++pi;
        if (pi + 1 == p.size()) return true;
        for (std::size_t k = si; k <= s.size(); ++k) {
          if (glob_match(p.substr(pi + 1), s.substr(k))) return true;
        }
        return false;
      }
      case '?':
        if (si == s.size()) return false;
        ++si;
        break;
      case '[': {
        if (si == s.size()) return false;
        ++pi;
        const bool negate = pi < p.size() && p[pi] == '^';
        if (negate) ++pi;
        bool match = false;
        for (;;) {
          if (pi >= p.size()) {  // an unclosed class: Redis stops at the end of the pattern
            --pi;
            break;
          }
          if (p[pi] == '\\' && pi + 1 < p.size()) {
            ++pi;
            if (p[pi] == s[si]) match = true;
          } else if (p[pi] == ']') {
            break;
          } else if (pi + 2 < p.size() && p[pi + 1] == '-') {
            char start = p[pi];
            char end = p[pi + 2];
            if (start > end) std::swap(start, end);
            pi += 2;
            if (s[si] >= start && s[si] <= end) match = true;
          } else if (p[pi] == s[si]) {
            match = true;
          }
          ++pi;
        }
        if (negate) match = !match;
        if (!match) return false;
        ++si;
        break;
      }
      case '\\':
        if (pi + 1 < p.size()) ++pi;
        [[fallthrough]];
      default:
        if (si == s.size() || p[pi] != s[si]) return false;
        ++si;
        break;
    }
    ++pi;
  }
  return pi == p.size() && si == s.size();
}

// --- aof_log ----------------------------------------------------------------------------------

void aof_log::append(int db, std::span<const std::string_view> args) {
  const std::size_t start = pending_.size();
  if (db != db_) {
    char digits[4];
    const auto r = std::to_chars(digits, digits + sizeof digits, db);
    const std::string_view select[] = {"SELECT",
                                       std::string_view(digits, static_cast<std::size_t>(r.ptr - digits))};
    encode_command(pending_, select);
    db_ = db;
  }
  encode_command(pending_, args);
  appended_ += pending_.size() - start;
  if (mirror_) rewrite_.append(pending_, start, std::string::npos);
}

void aof_log::mirror(bool on) {
  mirror_ = on;
  rewrite_.clear();
  if (on) db_ = -1;
}

// --- keyspace ---------------------------------------------------------------------------------

entry* keyspace::find(int db, std::string_view key, unix_ms now) {
  database& d = dbs[static_cast<std::size_t>(db)];
  const auto it = d.find(key);
  if (it == d.end()) return nullptr;
  if (it->second.expires_at != 0 && it->second.expires_at <= now) {
    d.erase(it);
    return nullptr;
  }
  return &it->second;
}

std::size_t keyspace::sweep(unix_ms now, std::size_t budget) {
  // Each bucket visited and each entry looked at costs one unit of the budget, so a table left
  // with many empty buckets (after FLUSHDB) costs no more per tick than a full one.
  std::size_t deleted = 0;
  std::vector<std::string_view> doomed;
  for (std::size_t i = 0; i < dbs.size() && budget > 0; ++i) {
    database& d = dbs[i];
    if (d.empty()) continue;
    std::size_t& cursor = sweep_cursor[i];
    const std::size_t buckets = d.bucket_count();
    for (std::size_t visited = 0; visited < buckets && budget > 0; ++visited) {
      if (cursor >= buckets) cursor = 0;
      --budget;
      doomed.clear();
      for (auto it = d.begin(cursor); it != d.end(cursor); ++it) {
        if (budget > 0) --budget;
        if (it->second.expires_at != 0 && it->second.expires_at <= now) doomed.push_back(it->first);
      }
      ++cursor;
      for (std::string_view k : doomed) {
        d.erase(d.find(k));
        ++deleted;
      }
    }
  }
  return deleted;
}

std::size_t keyspace::size() const noexcept {
  std::size_t n = 0;
  for (const database& d : dbs) n += d.size();
  return n;
}

// --- commands ---------------------------------------------------------------------------------

namespace {

using args_t = std::span<const std::string_view>;

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

std::string decimal(std::int64_t v) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, v);
  return std::string(digits, r.ptr);
}

constexpr std::string_view not_integer = "ERR value is not an integer or out of range";
constexpr std::string_view syntax_error = "ERR syntax error";

void wrong_arity(context& ctx, std::string_view name) {
  reply_error(ctx.out, "ERR wrong number of arguments for '" + std::string(name) + "' command");
}

database& db_of(context& ctx) {
  return ctx.data.dbs[static_cast<std::size_t>(ctx.client.db)];
}

void record(context& ctx, args_t args) {
  if (ctx.log) ctx.log->append(ctx.client.db, args);
}
void record(context& ctx, std::initializer_list<std::string_view> args) {
  if (ctx.log) ctx.log->append(ctx.client.db, args);
}

void cmd_ping(context& ctx, args_t a) {
  if (a.size() > 2) return wrong_arity(ctx, "ping");
  if (a.size() == 2) return reply_bulk(ctx.out, a[1]);
  reply_simple(ctx.out, "PONG");
}

void cmd_echo(context& ctx, args_t a) {
  reply_bulk(ctx.out, a[1]);
}

void cmd_get(context& ctx, args_t a) {
  if (entry* e = ctx.data.find(ctx.client.db, a[1], ctx.now)) return reply_bulk(ctx.out, e->value);
  reply_null(ctx.out);
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
void cmd_set(context& ctx, args_t a) {
  enum : unsigned { nx = 1, xx = 2, get = 4, keepttl = 8, ex = 16, px = 32, exat = 64, pxat = 128 };
  constexpr unsigned any_expire = ex | px | exat | pxat;
  unsigned flags = 0;
  std::string_view expire_arg;
  for (std::size_t i = 3; i < a.size(); ++i) {
    const std::string_view o = a[i];
    const bool has_next = i + 1 < a.size();
    if (iequals(o, "nx") && !(flags & xx)) {
      flags |= nx;
    } else if (iequals(o, "xx") && !(flags & nx)) {
      flags |= xx;
    } else if (iequals(o, "get")) {
      flags |= get;
    } else if (iequals(o, "keepttl") && !(flags & any_expire)) {
      flags |= keepttl;
    } else if (has_next && !(flags & (keepttl | any_expire)) &&
               (iequals(o, "ex") || iequals(o, "px") || iequals(o, "exat") || iequals(o, "pxat"))) {
      flags |= iequals(o, "ex") ? ex : iequals(o, "px") ? px : iequals(o, "exat") ? exat : pxat;
      expire_arg = a[++i];
    } else {
      return reply_error(ctx.out, syntax_error);
    }
  }
  unix_ms expires_at = 0;
  if (flags & any_expire) {
    const auto v = parse_int64(expire_arg);
    if (!v) return reply_error(ctx.out, not_integer);
    std::int64_t ms = *v;
    const bool seconds = flags & (ex | exat);
    const bool relative = flags & (ex | px);
    const bool bad =
        ms <= 0 || (seconds && ms > std::numeric_limits<std::int64_t>::max() / 1000) ||
        (relative && (seconds ? ms * 1000 : ms) > std::numeric_limits<std::int64_t>::max() - ctx.now);
    if (bad) return reply_error(ctx.out, "ERR invalid expire time in 'set' command");
    if (seconds) ms *= 1000;
    expires_at = relative ? ctx.now + ms : ms;
  }
  database& d = db_of(ctx);
  entry* old = ctx.data.find(ctx.client.db, a[1], ctx.now);
  if (flags & get) {
    if (old) {
      reply_bulk(ctx.out, old->value);
    } else {
      reply_null(ctx.out);
    }
  }
  if (((flags & nx) && old) || ((flags & xx) && !old)) {
    if (!(flags & get)) reply_null(ctx.out);
    return;
  }
  if (old) {
    old->value.assign(a[2]);
    if (!(flags & keepttl)) old->expires_at = expires_at;
  } else {
    d.emplace(std::string(a[1]), entry{std::string(a[2]), expires_at});
  }
  if (!(flags & get)) reply_simple(ctx.out, "OK");
  if (!ctx.log) return;
  if (expires_at != 0) {
    const std::string at = decimal(expires_at);
    record(ctx, {"SET", a[1], a[2], "PXAT", at});
  } else if (flags & keepttl) {
    record(ctx, {"SET", a[1], a[2], "KEEPTTL"});
  } else {
    record(ctx, {"SET", a[1], a[2]});
  }
}

void cmd_del(context& ctx, args_t a) {
  database& d = db_of(ctx);
  std::int64_t n = 0;
  std::vector<std::string_view> logged{"DEL"};
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (!ctx.data.find(ctx.client.db, a[i], ctx.now)) continue;
    d.erase(d.find(a[i]));
    ++n;
    if (ctx.log) logged.push_back(a[i]);
  }
  if (n > 0) record(ctx, logged);
  reply_integer(ctx.out, n);
}

void cmd_exists(context& ctx, args_t a) {
  std::int64_t n = 0;
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (ctx.data.find(ctx.client.db, a[i], ctx.now)) ++n;
  }
  reply_integer(ctx.out, n);
}

void add_to(context& ctx, std::string_view key, std::int64_t by) {
  entry* e = ctx.data.find(ctx.client.db, key, ctx.now);
  std::int64_t value = 0;
  if (e) {
    const auto v = parse_int64(e->value);
    if (!v) return reply_error(ctx.out, not_integer);
    value = *v;
  }
  if ((by < 0 && value < 0 && by < std::numeric_limits<std::int64_t>::min() - value) ||
      (by > 0 && value > 0 && by > std::numeric_limits<std::int64_t>::max() - value)) {
    return reply_error(ctx.out, "ERR increment or decrement would overflow");
  }
  value += by;
  std::string text = decimal(value);
  if (e) {
    e->value = text;
  } else {
    db_of(ctx).emplace(std::string(key), entry{text, 0});
  }
  reply_integer(ctx.out, value);
  record(ctx, {"SET", key, text, "KEEPTTL"});
}

void cmd_incr(context& ctx, args_t a) {
  add_to(ctx, a[1], 1);
}
void cmd_decr(context& ctx, args_t a) {
  add_to(ctx, a[1], -1);
}
void cmd_incrby(context& ctx, args_t a) {
  const auto by = parse_int64(a[2]);
  if (!by) return reply_error(ctx.out, not_integer);
  add_to(ctx, a[1], *by);
}
void cmd_decrby(context& ctx, args_t a) {
  const auto by = parse_int64(a[2]);
  if (!by) return reply_error(ctx.out, not_integer);
  if (*by == std::numeric_limits<std::int64_t>::min())
    return reply_error(ctx.out, "ERR decrement would overflow");
  add_to(ctx, a[1], -*by);
}

void cmd_mget(context& ctx, args_t a) {
  reply_array(ctx.out, a.size() - 1);
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (entry* e = ctx.data.find(ctx.client.db, a[i], ctx.now)) {
      reply_bulk(ctx.out, e->value);
    } else {
      reply_null(ctx.out);
    }
  }
}

void cmd_mset(context& ctx, args_t a) {
  if (a.size() % 2 == 0) return wrong_arity(ctx, "mset");
  database& d = db_of(ctx);
  for (std::size_t i = 1; i + 1 < a.size(); i += 2) {
    if (entry* e = ctx.data.find(ctx.client.db, a[i], ctx.now)) {
      e->value.assign(a[i + 1]);
      e->expires_at = 0;
    } else {
      d.emplace(std::string(a[i]), entry{std::string(a[i + 1]), 0});
    }
  }
  reply_simple(ctx.out, "OK");
  record(ctx, a);
}

// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT]
void expire_generic(context& ctx, args_t a, std::string_view name, bool seconds, bool relative) {
  enum : unsigned { nx = 1, xx = 2, gt = 4, lt = 8 };
  unsigned flags = 0;
  for (std::size_t i = 3; i < a.size(); ++i) {
    if (iequals(a[i], "nx")) {
      flags |= nx;
    } else if (iequals(a[i], "xx")) {
      flags |= xx;
    } else if (iequals(a[i], "gt")) {
      flags |= gt;
    } else if (iequals(a[i], "lt")) {
      flags |= lt;
    } else {
      return reply_error(ctx.out, "ERR Unsupported option " + std::string(a[i]));
    }
  }
  if ((flags & nx) && (flags & (xx | gt | lt))) {
    return reply_error(ctx.out, "ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if ((flags & gt) && (flags & lt)) {
    return reply_error(ctx.out, "ERR GT and LT options at the same time are not compatible");
  }
  const auto v = parse_int64(a[2]);
  if (!v) return reply_error(ctx.out, not_integer);
  std::int64_t when = *v;
  const std::string invalid = "ERR invalid expire time in '" + std::string(name) + "' command";
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  if (seconds) {
    if (when > max / 1000 || when < min / 1000) return reply_error(ctx.out, invalid);
    when *= 1000;
  }
  if (relative) {
    if (when > max - ctx.now) return reply_error(ctx.out, invalid);
    when += ctx.now;
  }
  entry* e = ctx.data.find(ctx.client.db, a[1], ctx.now);
  if (!e) return reply_integer(ctx.out, 0);
  const bool has_ttl = e->expires_at != 0;
  if (((flags & nx) && has_ttl) || ((flags & xx) && !has_ttl) ||
      ((flags & gt) && (!has_ttl || when <= e->expires_at)) ||
      ((flags & lt) && has_ttl && when >= e->expires_at)) {
    return reply_integer(ctx.out, 0);
  }
  if (when <= ctx.now) {
    database& d = db_of(ctx);
    d.erase(d.find(a[1]));
    record(ctx, {"DEL", a[1]});
  } else {
    e->expires_at = when;
    const std::string at = decimal(when);
    record(ctx, {"PEXPIREAT", a[1], at});
  }
  reply_integer(ctx.out, 1);
}

void cmd_expire(context& ctx, args_t a) {
  expire_generic(ctx, a, "expire", true, true);
}
void cmd_pexpire(context& ctx, args_t a) {
  expire_generic(ctx, a, "pexpire", false, true);
}
void cmd_expireat(context& ctx, args_t a) {
  expire_generic(ctx, a, "expireat", true, false);
}
void cmd_pexpireat(context& ctx, args_t a) {
  expire_generic(ctx, a, "pexpireat", false, false);
}

void cmd_persist(context& ctx, args_t a) {
  entry* e = ctx.data.find(ctx.client.db, a[1], ctx.now);
  if (!e || e->expires_at == 0) return reply_integer(ctx.out, 0);
  e->expires_at = 0;
  record(ctx, {"PERSIST", a[1]});
  reply_integer(ctx.out, 1);
}

void ttl_generic(context& ctx, args_t a, bool ms) {
  entry* e = ctx.data.find(ctx.client.db, a[1], ctx.now);
  if (!e) return reply_integer(ctx.out, -2);
  if (e->expires_at == 0) return reply_integer(ctx.out, -1);
  const std::int64_t left = std::max<std::int64_t>(e->expires_at - ctx.now, 0);
  reply_integer(ctx.out, ms ? left : (left + 500) / 1000);
}
void cmd_ttl(context& ctx, args_t a) {
  ttl_generic(ctx, a, false);
}
void cmd_pttl(context& ctx, args_t a) {
  ttl_generic(ctx, a, true);
}

void cmd_keys(context& ctx, args_t a) {
  database& d = db_of(ctx);
  std::vector<std::string_view> found;
  const bool all = a[1] == "*";
  for (const auto& [key, e] : d) {
    if (e.expires_at != 0 && e.expires_at <= ctx.now) continue;  // expired: the sweep deletes it
    if (all || glob_match(a[1], key)) found.push_back(key);
  }
  reply_array(ctx.out, found.size());
  for (std::string_view k : found) reply_bulk(ctx.out, k);
}

void cmd_dbsize(context& ctx, args_t) {
  reply_integer(ctx.out, static_cast<std::int64_t>(db_of(ctx).size()));
}

bool flush_mode_ok(args_t a) {
  return a.size() == 1 || (a.size() == 2 && (iequals(a[1], "async") || iequals(a[1], "sync")));
}

void cmd_flushdb(context& ctx, args_t a) {
  if (!flush_mode_ok(a)) return reply_error(ctx.out, syntax_error);
  db_of(ctx).clear();
  record(ctx, {"FLUSHDB"});
  reply_simple(ctx.out, "OK");
}

void cmd_flushall(context& ctx, args_t a) {
  if (!flush_mode_ok(a)) return reply_error(ctx.out, syntax_error);
  for (database& d : ctx.data.dbs) d.clear();
  record(ctx, {"FLUSHALL"});
  reply_simple(ctx.out, "OK");
}

void cmd_select(context& ctx, args_t a) {
  const auto v = parse_int64(a[1]);
  if (!v) return reply_error(ctx.out, not_integer);
  if (*v < 0 || *v >= database_count) return reply_error(ctx.out, "ERR DB index is out of range");
  ctx.client.db = static_cast<int>(*v);
  reply_simple(ctx.out, "OK");
}

void cmd_quit(context& ctx, args_t) {
  ctx.client.quit = true;
  reply_simple(ctx.out, "OK");
}

void cmd_command(context& ctx, args_t a) {
  if (a.size() >= 2 && iequals(a[1], "count")) return reply_integer(ctx.out, 0);
  reply_array(ctx.out, 0);  // no command table: clients fall back to their defaults
}

void cmd_config(context& ctx, args_t a) {
  if (!iequals(a[1], "get")) {
    return reply_error(ctx.out,
                       "ERR unknown subcommand '" + std::string(a[1]).substr(0, 128) + "'. Try CONFIG HELP.");
  }
  if (a.size() < 3) return wrong_arity(ctx, "config|get");
  std::vector<const std::pair<std::string, std::string>*> found;
  if (ctx.config) {
    for (const auto& item : *ctx.config) {
      for (std::size_t i = 2; i < a.size(); ++i) {
        if (glob_match(lower(a[i]), item.first)) {
          found.push_back(&item);
          break;
        }
      }
    }
  }
  reply_array(ctx.out, found.size() * 2);
  for (const auto* item : found) {
    reply_bulk(ctx.out, item->first);
    reply_bulk(ctx.out, item->second);
  }
}

void cmd_bgrewriteaof(context& ctx, args_t) {
  if (!ctx.log) return reply_error(ctx.out, "ERR the append-only file is off (--appendonly no)");
  ctx.rewrite_requested = true;
  reply_simple(ctx.out, "Background append only file rewriting started");
}

struct command {
  std::string_view name;
  int arity;  // Redis's: n exactly, -n at least
  void (*run)(context&, args_t);
};

constexpr command commands[] = {
    {"bgrewriteaof", 1, cmd_bgrewriteaof},
    {"command", -1, cmd_command},
    {"config", -2, cmd_config},
    {"dbsize", 1, cmd_dbsize},
    {"decr", 2, cmd_decr},
    {"decrby", 3, cmd_decrby},
    {"del", -2, cmd_del},
    {"echo", 2, cmd_echo},
    {"exists", -2, cmd_exists},
    {"expire", -3, cmd_expire},
    {"expireat", -3, cmd_expireat},
    {"flushall", -1, cmd_flushall},
    {"flushdb", -1, cmd_flushdb},
    {"get", 2, cmd_get},
    {"incr", 2, cmd_incr},
    {"incrby", 3, cmd_incrby},
    {"keys", 2, cmd_keys},
    {"mget", -2, cmd_mget},
    {"mset", -3, cmd_mset},
    {"persist", 2, cmd_persist},
    {"pexpire", -3, cmd_pexpire},
    {"pexpireat", -3, cmd_pexpireat},
    {"ping", -1, cmd_ping},
    {"pttl", 2, cmd_pttl},
    {"quit", -1, cmd_quit},
    {"select", 2, cmd_select},
    {"set", -3, cmd_set},
    {"ttl", 2, cmd_ttl},
};

const command* lookup(std::string_view name) noexcept {
  char folded[16];
  if (name.size() > sizeof folded) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    folded[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view key(folded, name.size());
  const auto it = std::lower_bound(std::begin(commands), std::end(commands), key,
                                   [](const command& c, std::string_view k) { return c.name < k; });
  return it != std::end(commands) && it->name == key ? &*it : nullptr;
}

void unknown_command(context& ctx, args_t a) {
  // Redis: each argument quoted and followed by a space, while the list is under 128 bytes.
  std::string list;
  for (std::size_t i = 1; i < a.size() && list.size() < 128; ++i) {
    const std::size_t room = 128 - list.size();
    list += '\'';
    list.append(a[i].substr(0, room));
    list += "' ";
  }
  reply_error(ctx.out, "ERR unknown command '" + std::string(a[0].substr(0, 128)) +
                           "', with args beginning with: " + list);
}

}  // namespace

void execute(context& ctx, args_t args) {
  if (args.empty()) return;
  const command* c = lookup(args[0]);
  if (!c) return unknown_command(ctx, args);
  const auto n = static_cast<std::int64_t>(args.size());
  if ((c->arity > 0 && n != c->arity) || (c->arity < 0 && n < -c->arity)) return wrong_arity(ctx, c->name);
  c->run(ctx, args);
}

void serialize(const keyspace& data, unix_ms now, std::string& out) {
  for (int i = 0; i < database_count; ++i) {
    const database& d = data.dbs[static_cast<std::size_t>(i)];
    bool selected = false;
    for (const auto& [key, e] : d) {
      if (e.expires_at != 0 && e.expires_at <= now) continue;
      if (!selected) {
        const std::string db = decimal(i);
        const std::string_view select[] = {"SELECT", db};
        encode_command(out, select);
        selected = true;
      }
      if (e.expires_at != 0) {
        const std::string at = decimal(e.expires_at);
        const std::string_view set[] = {"SET", key, e.value, "PXAT", at};
        encode_command(out, set);
      } else {
        const std::string_view set[] = {"SET", key, e.value};
        encode_command(out, set);
      }
    }
  }
}

}  // namespace kv
