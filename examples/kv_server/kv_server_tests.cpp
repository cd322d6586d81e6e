// SPDX-License-Identifier: MIT
// Unit tests of kv_server's pure core: the RESP parser (resp.hpp) and the commands, the glob
// matcher, the append-only log and the snapshot (store.hpp). No runtime, no sockets.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "resp.hpp"
#include "store.hpp"

namespace {

using strings = std::vector<std::string>;

/// Every command in `input` (fed whole), or the protocol error that stopped it.
struct parsed {
  std::vector<strings> commands;
  std::string error;
  std::size_t left = 0;  // bytes of an incomplete command at the end
};

parsed parse_all(std::string_view input, kv::parser_limits limits = {}) {
  parsed p;
  kv::resp_parser parser(limits);
  std::size_t pos = 0;
  while (pos < input.size()) {
    const auto st = parser.parse(input.substr(pos));
    if (st == kv::parse_status::error) {
      p.error = parser.error();
      return p;
    }
    if (st == kv::parse_status::incomplete) break;
    REQUIRE(parser.consumed() > 0);
    p.commands.emplace_back(parser.args().begin(), parser.args().end());
    pos += parser.consumed();
  }
  p.left = input.size() - pos;
  return p;
}

/// The same, with the bytes arriving one at a time (the buffer grows as a connection's does).
parsed parse_bytewise(std::string_view input) {
  parsed p;
  kv::resp_parser parser;
  std::size_t begin = 0;
  for (std::size_t end = 1; end <= input.size(); ++end) {
    for (;;) {
      const auto st = parser.parse(input.substr(begin, end - begin));
      if (st == kv::parse_status::error) {
        p.error = parser.error();
        return p;
      }
      if (st == kv::parse_status::incomplete) break;
      p.commands.emplace_back(parser.args().begin(), parser.args().end());
      begin += parser.consumed();
      if (begin == end) break;
    }
  }
  p.left = input.size() - begin;
  return p;
}

/// A keyspace, a client and a log, with a clock the test moves.
struct fixture {
  kv::keyspace data;
  kv::session client;
  kv::aof_log log;
  kv::unix_ms now = 1'700'000'000'000;
  kv::config_list config{{"appendonly", "no"}, {"save", ""}};
  bool rewrite = false;

  std::string run(std::vector<std::string_view> args) {
    std::string out;
    kv::context ctx{data, client, out, &log, now, &config};
    kv::execute(ctx, args);
    rewrite = ctx.rewrite_requested;
    return out;
  }
};

std::string err(std::string_view text) {
  return "-" + std::string(text) + "\r\n";
}
std::string bulk(std::string_view v) {
  return "$" + std::to_string(v.size()) + "\r\n" + std::string(v) + "\r\n";
}
std::string integer(long long v) {
  return ":" + std::to_string(v) + "\r\n";
}
const std::string ok = "+OK\r\n";
const std::string null = "$-1\r\n";

/// Runs every record of `records` into a fresh keyspace, as the replay at start does.
kv::keyspace replay(std::string_view records, kv::unix_ms now) {
  kv::keyspace data;
  kv::session client;
  const parsed p = parse_all(records);
  REQUIRE(p.error.empty());
  REQUIRE(p.left == 0);
  for (const strings& c : p.commands) {
    std::vector<std::string_view> args(c.begin(), c.end());
    std::string out;
    kv::context ctx{data, client, out, nullptr, now, nullptr};
    kv::execute(ctx, args);
    REQUIRE(out.rfind("-", 0) == std::string::npos);  // every record is a valid command
  }
  return data;
}

bool same(const kv::keyspace& a, const kv::keyspace& b, kv::unix_ms now) {
  for (int i = 0; i < kv::database_count; ++i) {
    std::size_t live_a = 0;
    for (const auto& [k, e] : a.dbs[static_cast<std::size_t>(i)]) {
      if (e.expires_at != 0 && e.expires_at <= now) continue;
      ++live_a;
      const auto it = b.dbs[static_cast<std::size_t>(i)].find(k);
      if (it == b.dbs[static_cast<std::size_t>(i)].end() || it->second.value != e.value ||
          it->second.expires_at != e.expires_at) {
        return false;
      }
    }
    std::size_t live_b = 0;
    for (const auto& [k, e] : b.dbs[static_cast<std::size_t>(i)]) {
      if (e.expires_at == 0 || e.expires_at > now) ++live_b;
    }
    if (live_a != live_b) return false;
  }
  return true;
}

}  // namespace

// --- parser -----------------------------------------------------------------------------------

TEST_CASE("a multibulk request gives its arguments, also binary ones") {
  const std::string input = std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\0\r\n\r\n", 30);
  const parsed p = parse_all(input);
  REQUIRE(p.commands.size() == 1);
  CHECK(p.commands[0] == strings{"SET", "k", std::string("a\0\r\n", 4)});
  CHECK(p.left == 0);
}

TEST_CASE("pipelined requests fed one byte at a time give the same commands as fed whole") {
  const std::string input =
      "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\nECHO \"a "
      "b\"\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
  const parsed whole = parse_all(input);
  const parsed bytes = parse_bytewise(input);
  REQUIRE(whole.commands.size() == 4);
  CHECK(whole.commands[1] == strings{"GET", ""});
  CHECK(whole.commands[2] == strings{"ECHO", "a b"});
  CHECK(bytes.commands == whole.commands);
  CHECK(bytes.left == 0);
}

TEST_CASE("an incomplete command is kept for the next read, and says how much it needs") {
  kv::resp_parser parser;
  const std::string part = "*2\r\n$3\r\nGET\r\n$10\r\n0123";
  CHECK(parser.parse(part) == kv::parse_status::incomplete);
  CHECK(parser.needed() == part.size() - 4 + 12);
  CHECK(parser.parse(part + "456789\r\n") == kv::parse_status::complete);
  CHECK(parser.args()[1] == "0123456789");
}

TEST_CASE("inline commands split on blanks and unquote as redis does") {
  const parsed p = parse_all("set a \"x\\x41\\n\\\"y\"  'it\\'s'\r\nPING\n");
  REQUIRE(p.commands.size() == 2);
  CHECK(p.commands[0] == strings{"set", "a", "xA\n\"y", "it's"});
  CHECK(p.commands[1] == strings{"PING"});
}

TEST_CASE("blank lines, *0 and *-1 are commands without arguments") {
  const parsed p = parse_all("\r\n\n*0\r\n*-1\r\nPING\r\n");
  REQUIRE(p.commands.size() == 5);
  for (int i = 0; i < 4; ++i) CHECK(p.commands[static_cast<std::size_t>(i)].empty());
  CHECK(p.commands[4] == strings{"PING"});
}

TEST_CASE("malformed requests give redis's protocol errors") {
  CHECK(parse_all("*abc\r\n").error == "Protocol error: invalid multibulk length");
  CHECK(parse_all("*2\r\n$x\r\n").error == "Protocol error: invalid bulk length");
  CHECK(parse_all("*1\r\n$-1\r\n").error == "Protocol error: invalid bulk length");
  CHECK(parse_all("*2\r\nxx\r\n").error == "Protocol error: expected '$', got 'x'");
  CHECK(parse_all("*+1\r\n").error == "Protocol error: invalid multibulk length");
  CHECK(parse_all("*01\r\n").error == "Protocol error: invalid multibulk length");
  CHECK(parse_all("set a \"b c\r\n").error == "Protocol error: unbalanced quotes in request");
  CHECK(parse_all("set a \"b\"c\r\n").error == "Protocol error: unbalanced quotes in request");
  CHECK(parse_all("set a 'b\r\n").error == "Protocol error: unbalanced quotes in request");
}

TEST_CASE("limits on the argument count, the bulk length and header lines are protocol errors") {
  const kv::parser_limits limits{.max_args = 4, .max_bulk = 10, .max_inline = 32};
  CHECK(parse_all("*5\r\n", limits).error == "Protocol error: invalid multibulk length");
  CHECK(parse_all("*4\r\n", limits).error.empty());
  CHECK(parse_all("*1\r\n$11\r\n", limits).error == "Protocol error: invalid bulk length");
  CHECK(parse_all("*1\r\n$10\r\n", limits).error.empty());
  CHECK(parse_all(std::string(33, 'a'), limits).error == "Protocol error: too big inline request");
  CHECK(parse_all("*" + std::string(40, '1'), limits).error == "Protocol error: too big mbulk count string");
  CHECK(parse_all("*1\r\n$" + std::string(40, '1'), limits).error ==
        "Protocol error: too big bulk count string");
  // The defaults are Redis's: 512 MiB per bulk.
  CHECK(parse_all("*1\r\n$600000000\r\n").error == "Protocol error: invalid bulk length");
  CHECK(parse_all("*3000000000\r\n").error == "Protocol error: invalid multibulk length");
}

TEST_CASE("an inline command is bounded by its length, not by max_args (found by fuzz_resp)") {
  const kv::parser_limits limits{.max_args = 4, .max_bulk = 10, .max_inline = 64};
  const parsed p = parse_all("a b c d e f g h\r\n", limits);
  REQUIRE(p.error.empty());
  REQUIRE(p.commands.size() == 1);
  CHECK(p.commands[0].size() == 8);
}

TEST_CASE("integers are parsed as strictly as redis's string2ll") {
  CHECK(kv::parse_int64("0") == 0);
  CHECK(kv::parse_int64("-5") == -5);
  CHECK(kv::parse_int64("9223372036854775807") == INT64_MAX);
  CHECK(kv::parse_int64("-9223372036854775808") == INT64_MIN);
  for (const char* bad :
       {"", "-", "+1", "01", "-0", " 1", "1 ", "1a", "9223372036854775808", "99999999999999999999"}) {
    CHECK_MESSAGE(!kv::parse_int64(bad), bad);
  }
}

TEST_CASE("replies are encoded as RESP2, and errors lose their line breaks") {
  std::string out;
  kv::reply_error(out, "ERR a\r\nb");
  kv::reply_integer(out, -3);
  kv::reply_bulk(out, "hi");
  kv::reply_null(out);
  kv::reply_array(out, 2);
  CHECK(out == "-ERR a  b\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n");
}

// --- commands ---------------------------------------------------------------------------------

TEST_CASE("unknown commands and wrong arity are reported in redis's words") {
  fixture f;
  CHECK(f.run({"foo"}) == err("ERR unknown command 'foo', with args beginning with: "));
  CHECK(f.run({"FOO", "a", "b"}) == err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
  const std::string big(200, 'a');
  CHECK(f.run({"foo", big, "b"}) ==
        err("ERR unknown command 'foo', with args beginning with: '" + std::string(128, 'a') + "' "));
  CHECK(f.run({"get"}) == err("ERR wrong number of arguments for 'get' command"));
  CHECK(f.run({"GET", "a", "b"}) == err("ERR wrong number of arguments for 'get' command"));
  CHECK(f.run({"ping", "a", "b"}) == err("ERR wrong number of arguments for 'ping' command"));
  CHECK(f.run({"mset", "a", "b", "c"}) == err("ERR wrong number of arguments for 'mset' command"));
  CHECK(f.run({"config", "get"}) == err("ERR wrong number of arguments for 'config|get' command"));
  CHECK(f.run({"config", "foo"}) == err("ERR unknown subcommand 'foo'. Try CONFIG HELP."));
}

TEST_CASE("PING, ECHO, GET and SET with NX, XX and GET") {
  fixture f;
  CHECK(f.run({"PING"}) == "+PONG\r\n");
  CHECK(f.run({"ping", "hi"}) == bulk("hi"));
  CHECK(f.run({"echo", "x y"}) == bulk("x y"));
  CHECK(f.run({"get", "k"}) == null);
  CHECK(f.run({"set", "k", "v"}) == ok);
  CHECK(f.run({"get", "k"}) == bulk("v"));
  CHECK(f.run({"set", "k", "w", "nx"}) == null);
  CHECK(f.run({"set", "new", "w", "xx"}) == null);
  CHECK(f.run({"get", "new"}) == null);
  CHECK(f.run({"set", "k", "w", "XX"}) == ok);
  CHECK(f.run({"set", "k", "z", "get"}) == bulk("w"));
  CHECK(f.run({"set", "fresh", "z", "get"}) == null);
  CHECK(f.run({"get", "k"}) == bulk("z"));
}

TEST_CASE("SET's option errors are redis's") {
  fixture f;
  CHECK(f.run({"set", "a", "b", "c"}) == err("ERR syntax error"));
  CHECK(f.run({"set", "a", "b", "ex"}) == err("ERR syntax error"));
  CHECK(f.run({"set", "a", "b", "nx", "xx"}) == err("ERR syntax error"));
  CHECK(f.run({"set", "a", "b", "ex", "1", "px", "1"}) == err("ERR syntax error"));
  CHECK(f.run({"set", "a", "b", "keepttl", "ex", "1"}) == err("ERR syntax error"));
  CHECK(f.run({"set", "a", "b", "ex", "x"}) == err("ERR value is not an integer or out of range"));
  CHECK(f.run({"set", "a", "b", "ex", "0"}) == err("ERR invalid expire time in 'set' command"));
  CHECK(f.run({"set", "a", "b", "px", "-1"}) == err("ERR invalid expire time in 'set' command"));
  CHECK(f.run({"set", "a", "b", "ex", "9223372036854775807"}) ==
        err("ERR invalid expire time in 'set' command"));
  CHECK(f.run({"set", "a", "b", "px", "9223372036854775807"}) ==
        err("ERR invalid expire time in 'set' command"));
  CHECK(f.run({"get", "a"}) == null);  // nothing was set by a failed SET
}

TEST_CASE("keys expire lazily: EX, PX, EXPIRE, TTL and PTTL follow the clock") {
  fixture f;
  CHECK(f.run({"set", "a", "1", "px", "100"}) == ok);
  CHECK(f.run({"pttl", "a"}) == integer(100));
  CHECK(f.run({"ttl", "a"}) == integer(0));
  f.now += 99;
  CHECK(f.run({"get", "a"}) == bulk("1"));
  f.now += 1;
  CHECK(f.run({"get", "a"}) == null);
  CHECK(f.run({"ttl", "a"}) == integer(-2));
  CHECK(f.run({"set", "b", "1"}) == ok);
  CHECK(f.run({"ttl", "b"}) == integer(-1));
  CHECK(f.run({"expire", "b", "10"}) == integer(1));
  CHECK(f.run({"ttl", "b"}) == integer(10));
  CHECK(f.run({"pexpire", "b", "1500"}) == integer(1));
  CHECK(f.run({"ttl", "b"}) == integer(2));  // 1.5 s rounds up, as Redis's TTL does
  CHECK(f.run({"expire", "b", "5", "nx"}) == integer(0));
  CHECK(f.run({"expire", "b", "5", "gt"}) == integer(1));
  CHECK(f.run({"expire", "b", "1", "gt"}) == integer(0));
  CHECK(f.run({"expire", "missing", "5"}) == integer(0));
  CHECK(f.run({"set", "b", "2"}) == ok);  // SET clears the TTL
  CHECK(f.run({"ttl", "b"}) == integer(-1));
  CHECK(f.run({"set", "b", "2", "ex", "7"}) == ok);
  CHECK(f.run({"set", "b", "3", "keepttl"}) == ok);
  CHECK(f.run({"ttl", "b"}) == integer(7));
  CHECK(f.run({"expire", "b", "0"}) == integer(1));  // a time in the past deletes
  CHECK(f.run({"exists", "b"}) == integer(0));
  CHECK(f.run({"expire", "a", "x"}) == err("ERR value is not an integer or out of range"));
  CHECK(f.run({"expire", "a", "9223372036854775807"}) == err("ERR invalid expire time in 'expire' command"));
  CHECK(f.run({"pexpire", "a", "9223372036854775807"}) ==
        err("ERR invalid expire time in 'pexpire' command"));
  CHECK(f.run({"expire", "a", "10", "foo"}) == err("ERR Unsupported option foo"));
  CHECK(f.run({"expire", "a", "10", "nx", "xx"}) ==
        err("ERR NX and XX, GT or LT options at the same time are not compatible"));
}

TEST_CASE("INCR, DECR, INCRBY and DECRBY check integers and overflow") {
  fixture f;
  CHECK(f.run({"incr", "n"}) == integer(1));
  CHECK(f.run({"incrby", "n", "41"}) == integer(42));
  CHECK(f.run({"decr", "n"}) == integer(41));
  CHECK(f.run({"decrby", "n", "50"}) == integer(-9));
  CHECK(f.run({"incrby", "n", "x"}) == err("ERR value is not an integer or out of range"));
  CHECK(f.run({"set", "s", "12 "}) == ok);
  CHECK(f.run({"incr", "s"}) == err("ERR value is not an integer or out of range"));
  CHECK(f.run({"set", "m", "9223372036854775807"}) == ok);
  CHECK(f.run({"incr", "m"}) == err("ERR increment or decrement would overflow"));
  CHECK(f.run({"set", "m", "-9223372036854775808"}) == ok);
  CHECK(f.run({"decr", "m"}) == err("ERR increment or decrement would overflow"));
  CHECK(f.run({"decrby", "m", "-9223372036854775808"}) == err("ERR decrement would overflow"));
  CHECK(f.run({"set", "t", "5", "ex", "100"}) == ok);
  CHECK(f.run({"incr", "t"}) == integer(6));
  CHECK(f.run({"ttl", "t"}) == integer(100));  // INCR keeps the TTL
}

TEST_CASE("DEL, EXISTS, MGET, MSET, DBSIZE and FLUSHDB") {
  fixture f;
  CHECK(f.run({"mset", "a", "1", "b", "2", "c", "3"}) == ok);
  CHECK(f.run({"exists", "a", "a", "zz", "b"}) == integer(3));
  CHECK(f.run({"mget", "a", "zz", "c"}) == "*3\r\n" + bulk("1") + null + bulk("3"));
  CHECK(f.run({"dbsize"}) == integer(3));
  CHECK(f.run({"del", "a", "zz", "b"}) == integer(2));
  CHECK(f.run({"dbsize"}) == integer(1));
  CHECK(f.run({"flushdb", "x"}) == err("ERR syntax error"));
  CHECK(f.run({"flushdb"}) == ok);
  CHECK(f.run({"dbsize"}) == integer(0));
}

TEST_CASE("SELECT isolates sixteen databases") {
  fixture f;
  CHECK(f.run({"set", "k", "zero"}) == ok);
  CHECK(f.run({"select", "15"}) == ok);
  CHECK(f.run({"get", "k"}) == null);
  CHECK(f.run({"set", "k", "fifteen"}) == ok);
  CHECK(f.run({"select", "16"}) == err("ERR DB index is out of range"));
  CHECK(f.run({"select", "-1"}) == err("ERR DB index is out of range"));
  CHECK(f.run({"select", "x"}) == err("ERR value is not an integer or out of range"));
  CHECK(f.run({"flushdb"}) == ok);
  CHECK(f.run({"select", "0"}) == ok);
  CHECK(f.run({"get", "k"}) == bulk("zero"));
}

TEST_CASE("QUIT, COMMAND, CONFIG GET and BGREWRITEAOF answer what clients expect") {
  fixture f;
  CHECK(f.run({"quit"}) == ok);
  CHECK(f.client.quit);
  CHECK(f.run({"command"}) == "*0\r\n");
  CHECK(f.run({"config", "get", "save"}) == "*2\r\n" + bulk("save") + bulk(""));
  CHECK(f.run({"CONFIG", "GET", "APPEND*"}) == "*2\r\n" + bulk("appendonly") + bulk("no"));
  CHECK(f.run({"config", "get", "nothing"}) == "*0\r\n");
  CHECK(f.run({"bgrewriteaof"}) == "+Background append only file rewriting started\r\n");
  CHECK(f.rewrite);
  std::string out;
  kv::context off{f.data, f.client, out, nullptr, f.now, nullptr};
  const std::vector<std::string_view> args{"bgrewriteaof"};
  kv::execute(off, args);
  CHECK(out == err("ERR the append-only file is off (--appendonly no)"));
  CHECK_FALSE(off.rewrite_requested);
}

TEST_CASE("KEYS matches redis's glob patterns") {
  CHECK(kv::glob_match("*", ""));
  CHECK(kv::glob_match("h?llo", "hello"));
  CHECK_FALSE(kv::glob_match("h?llo", "hllo"));
  CHECK(kv::glob_match("h*llo", "heeeello"));
  CHECK(kv::glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(kv::glob_match("h[ae]llo", "hillo"));
  CHECK(kv::glob_match("h[^e]llo", "hallo"));
  CHECK_FALSE(kv::glob_match("h[^e]llo", "hello"));
  CHECK(kv::glob_match("h[a-b]llo", "hbllo"));
  CHECK(kv::glob_match("h[b-a]llo", "hallo"));  // a reversed range, as Redis takes it
  CHECK(kv::glob_match("h\\*llo", "h*llo"));
  CHECK_FALSE(kv::glob_match("h\\*llo", "hello"));
  CHECK(kv::glob_match("[\\]]", "]"));
  CHECK(kv::glob_match("a*b*c", "aXXbYYc"));
  CHECK_FALSE(kv::glob_match("a*b*c", "aXXbYY"));
  CHECK(kv::glob_match("**", "x"));
  fixture f;
  f.run({"mset", "hello", "1", "hallo", "2", "hxllo", "3", "other", "4"});
  f.run({"set", "hullo", "5", "px", "10"});
  f.now += 10;
  std::string keys = f.run({"keys", "h[ae]llo"});
  CHECK(keys.rfind("*2\r\n", 0) == 0);
  CHECK(keys.find("hello") != std::string::npos);
  CHECK(keys.find("hallo") != std::string::npos);
  CHECK(f.run({"keys", "hu*"}) == "*0\r\n");  // expired keys are not listed
}

// --- append-only log, snapshot, sweep ---------------------------------------------------------

TEST_CASE("the log records changes with SELECT between databases and absolute expiry times") {
  fixture f;
  f.run({"set", "a", "1"});
  f.run({"get", "a"});             // reads are not recorded
  f.run({"set", "a", "2", "nx"});  // nothing changed: not recorded
  f.run({"select", "3"});
  f.run({"set", "b", "2", "ex", "10"});
  f.run({"expire", "b", "20"});
  f.run({"incr", "n"});
  f.run({"del", "zz", "n"});
  const parsed p = parse_all(f.log.pending());
  REQUIRE(p.error.empty());
  const std::vector<strings> expected{
      {"SELECT", "0"},
      {"SET", "a", "1"},
      {"SELECT", "3"},
      {"SET", "b", "2", "PXAT", std::to_string(f.now + 10'000)},
      {"PEXPIREAT", "b", std::to_string(f.now + 20'000)},
      {"SET", "n", "1", "KEEPTTL"},
      {"DEL", "n"},
  };
  CHECK(p.commands == expected);
  CHECK(f.log.appended() == f.log.pending().size());
}

TEST_CASE("replaying the log later rebuilds the same data, with expired keys gone") {
  fixture f;
  f.run({"mset", "a", "1", "b", "2"});
  f.run({"set", "short", "x", "px", "50"});
  f.run({"set", "long", "y", "ex", "1000"});
  f.run({"select", "7"});
  f.run({"set", "a", "seven"});
  f.run({"incrby", "c", "5"});
  f.run({"select", "0"});
  f.run({"del", "b"});
  f.run({"pexpire", "a", "100000"});
  f.now += 60;  // `short` has expired
  const kv::keyspace rebuilt = replay(f.log.pending(), f.now);
  CHECK(same(f.data, rebuilt, f.now));
  CHECK(rebuilt.dbs[7].at("c").value == "5");
}

TEST_CASE("a snapshot replayed gives the same data and leaves expired keys out") {
  fixture f;
  f.run({"mset", "a", "1", "b", "2"});
  f.run({"set", "gone", "x", "px", "5"});
  f.run({"set", "kept", "y", "px", "5000"});
  f.run({"select", "2"});
  f.run({"set", "a", std::string("bin\0\r\nary", 9)});
  f.now += 10;
  std::string snapshot;
  kv::serialize(f.data, f.now, snapshot);
  CHECK(snapshot.find("gone") == std::string::npos);
  const kv::keyspace rebuilt = replay(snapshot, f.now);
  CHECK(same(f.data, rebuilt, f.now));
  CHECK(rebuilt.dbs[0].at("kept").expires_at == f.now - 10 + 5000);
}

TEST_CASE("while mirroring, records also go to the rewrite buffer, which starts with a SELECT") {
  fixture f;
  f.run({"set", "a", "1"});
  f.log.mirror(true);
  f.run({"set", "b", "2"});
  const parsed p = parse_all(f.log.rewrite_buffer());
  CHECK(p.commands == std::vector<strings>{{"SELECT", "0"}, {"SET", "b", "2"}});
  f.log.mirror(false);
  f.run({"set", "c", "3"});
  CHECK(f.log.rewrite_buffer().empty());
  // The main stream stays valid: replaying it gives every key.
  const kv::keyspace rebuilt = replay(f.log.pending(), f.now);
  CHECK(same(f.data, rebuilt, f.now));
}

TEST_CASE("the active sweep deletes expired keys, bounded by its budget per call") {
  fixture f;
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "k" + std::to_string(i);
    f.run({"set", k, "v", "px", i % 2 == 0 ? "10" : "100000"});
  }
  f.now += 20;
  const std::size_t first = f.data.sweep(f.now, 100);
  CHECK(first <= 100);
  std::size_t total = first;
  for (int i = 0; i < 100 && total < 500; ++i) total += f.data.sweep(f.now, 100);
  CHECK(total == 500);
  CHECK(f.data.dbs[0].size() == 500);
  f.run({"flushdb"});
  CHECK(f.data.sweep(f.now, 100) == 0);  // empty: nothing to do, and it ends
}
