// SPDX-License-Identifier: MIT
// Tests for the stream concepts (include/coring/stream_concepts.hpp), file_stream, and the
// buffered_reader / buffered_writer over them: first over an in-memory stream whose reads and
// writes are scripted (exact splits, errors, short writes), then over TCP (loopback), Unix stream
// sockets and files, from io-pool and CPU-pool tasks: lines split across reads, "\r\n", delimiters
// at the buffer's edge, records over the limit, the ends of streams, cancellation in the middle of
// a read_until, a reset peer, large writes that bypass the buffer and flushes that fail.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using coring::buffered_reader;
using coring::buffered_writer;
using coring::result;
using coring::stream_errc;
using coring::task;
using coring::net::tcp_stream;
using coring::net::unix_stream;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

/// An awaitable that is ready at once with its value.
struct ready_size {
  result<std::size_t> value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  result<std::size_t> await_resume() const noexcept { return value; }
};

/// An in-memory stream: each read gives (at most) the next scripted chunk, then the end of the
/// stream or `read_error`; writes append to `written`, at most `max_write` bytes each, or fail with
/// `write_error` while it is set. It records what it was asked, so tests can see copies and bypasses.
struct mock_stream {
  std::vector<std::string> chunks{};
  std::size_t next_chunk = 0;
  std::size_t chunk_offset = 0;
  std::error_code read_error{};  // given (once the chunks are used up) instead of the end of stream
  std::vector<std::size_t> read_sizes{};

  std::string written{};
  std::size_t max_write = std::numeric_limits<std::size_t>::max();
  std::error_code write_error{};
  std::vector<const std::byte*> write_sources{};  // where each write's bytes came from

  ready_size read(std::span<std::byte> out) {
    read_sizes.push_back(out.size());
    if (out.empty()) return {std::size_t{0}};
    if (next_chunk == chunks.size()) {
      if (read_error) return {read_error};
      return {std::size_t{0}};
    }
    const std::string& chunk = chunks[next_chunk];
    const std::size_t n = std::min(out.size(), chunk.size() - chunk_offset);
    std::memcpy(out.data(), chunk.data() + chunk_offset, n);
    chunk_offset += n;
    if (chunk_offset == chunk.size()) {
      ++next_chunk;
      chunk_offset = 0;
    }
    return {n};
  }

  ready_size write(std::span<const std::byte> bytes) {
    write_sources.push_back(bytes.data());
    if (write_error) return {write_error};
    const std::size_t n = std::min(bytes.size(), max_write);
    written.append(reinterpret_cast<const char*>(bytes.data()), n);
    return {n};
  }
};

/// A write stream with a flush of its own, counting flushes.
struct flushing_stream {
  mock_stream inner;
  int flushes = 0;
  ready_size write(std::span<const std::byte> bytes) { return inner.write(bytes); }
  task<result<void>> flush() {
    ++flushes;
    co_return result<void>{};
  }
};

// The concepts: coring's streams, the adaptors and an in-memory stream satisfy them.
static_assert(coring::async_read_stream<tcp_stream> && coring::async_write_stream<tcp_stream>);
static_assert(coring::async_read_stream<unix_stream> && coring::async_write_stream<unix_stream>);
static_assert(coring::async_read_stream<coring::file_stream> &&
              coring::async_write_stream<coring::file_stream>);
static_assert(coring::async_read_stream<mock_stream> && coring::async_write_stream<mock_stream>);
static_assert(coring::async_read_stream<buffered_reader<mock_stream&>>);
static_assert(coring::async_read_stream<buffered_reader<tcp_stream>>);
static_assert(coring::async_write_stream<buffered_writer<mock_stream&>>);
static_assert(coring::async_write_stream<buffered_writer<unix_stream>>);
static_assert(!coring::async_write_stream<buffered_reader<mock_stream&>>);
static_assert(!coring::async_read_stream<buffered_writer<mock_stream&>>);
static_assert(!coring::async_read_stream<coring::file> && !coring::async_write_stream<int>);
// An lvalue is borrowed, an rvalue owned.
static_assert(
    std::is_same_v<decltype(buffered_reader{std::declval<mock_stream&>()}), buffered_reader<mock_stream&>>);
static_assert(
    std::is_same_v<decltype(buffered_reader{std::declval<mock_stream>()}), buffered_reader<mock_stream>>);
static_assert(
    std::is_same_v<decltype(buffered_writer{std::declval<tcp_stream&>()}), buffered_writer<tcp_stream&>>);
static_assert(std::is_same_v<decltype(buffered_writer{std::declval<tcp_stream>(), std::size_t{64}}),
                             buffered_writer<tcp_stream>>);

std::string text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

template <class Awaitable>
auto run(Awaitable&& a) {
  return coring::sync_wait(std::forward<Awaitable>(a));
}

/// Bytes that vary with their position, so that a lost, duplicated or reordered chunk is noticed.
std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7 + i / 997) % 253);
  return bytes;
}

/// A connected pair of Unix stream sockets.
std::pair<unix_stream, unix_stream> unix_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {unix_stream{fds[0]}, unix_stream{fds[1]}};
}

/// A connected pair of TCP sockets on 127.0.0.1 (connected and accepted from `home`'s pool).
task<std::pair<tcp_stream, tcp_stream>> tcp_pair() {
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0)).value();
  const coring::net::endpoint where = listener.local_endpoint().value();
  auto [client, server] = co_await coring::when_all(tcp_stream::connect(where), listener.accept());
  co_return std::pair<tcp_stream, tcp_stream>{std::move(client).value(), std::move(server).value()};
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Over an in-memory stream

TEST_CASE("read_line joins a line split across reads and strips \\n and \\r\\n") {
  mock_stream m{.chunks = {"hel", "lo\nwor", "ld\r\n", "\n", "a\rb\n", "last"}};
  buffered_reader in{m};
  CHECK(*run(in.read_line()) == "hello");
  CHECK(*run(in.read_line()) == "world");
  CHECK(*run(in.read_line()) == "");  // an empty line is an empty view, not the end
  CHECK(*run(in.read_line()) == "a\rb");
  CHECK(*run(in.read_line()) == "last");  // the last line, without a terminator
  CHECK(run(in.read_line()).error() == stream_errc::end_of_stream);
  CHECK(run(in.read_line()).error() == stream_errc::end_of_stream);  // and again: each call asks the stream
}

TEST_CASE("read_until keeps the delimiter, finds a string delimiter split across reads, leaves the rest") {
  mock_stream m{.chunks = {"GET / HTTP/1.1\r\nHost: x\r", "\n\r", "\nbody"}};
  buffered_reader in{m};
  CHECK(*run(in.read_until("\r\n\r\n")) == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(text(in.buffered()) == "body");
  CHECK(*run(in.read_until(';')) == "body");  // the end of the stream: the bytes, without a delimiter
  CHECK(run(in.read_until(';')).error() == stream_errc::end_of_stream);
}

TEST_CASE("lines and records cut at every place by reads and buffer sizes all come out whole") {
  // A fixed pseudo-random script: lines of 0..40 bytes ending in "\n" or "\r\n", and 4-byte
  // records, in chunks of 1..23 bytes, read through buffers of 1..24 bytes that may grow to 64.
  std::uint32_t seed = 12345;
  const auto next = [&seed](std::uint32_t bound) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % bound;
  };
  for (std::size_t capacity = 1; capacity <= 24; ++capacity) {
    std::string all;
    std::vector<std::string> expected;  // lines as read_line gives them; records prefixed "#"
    for (int i = 0; i < 60; ++i) {
      if (next(4) == 0) {
        std::string record(4, '\0');
        for (char& c : record) c = static_cast<char>('A' + next(26));
        all += record;
        expected.push_back("#" + record);
        continue;
      }
      std::string text_line(next(41), '\0');
      for (char& c : text_line) c = static_cast<char>('a' + next(26));
      all += text_line + (next(2) == 0 ? "\n" : "\r\n");
      expected.push_back(text_line);
    }
    mock_stream m;
    for (std::size_t at = 0; at < all.size();) {
      const std::size_t n = std::min<std::size_t>(1 + next(23), all.size() - at);
      m.chunks.push_back(all.substr(at, n));
      at += n;
    }
    buffered_reader in{m, {.capacity = capacity, .max_capacity = 64}};
    for (const std::string& want : expected) {
      if (!want.empty() && want[0] == '#') {
        std::string record(4, '\0');
        REQUIRE(run(in.read_exact(std::span<char>(record))));
        CHECK(record == want.substr(1));
      } else {
        const result<std::string_view> line = run(in.read_line());
        REQUIRE(line);
        CHECK(*line == want);
      }
    }
    CHECK(run(in.read_line()).error() == stream_errc::end_of_stream);
  }
}

TEST_CASE("a line answered from the buffer does not read the stream again") {
  mock_stream m{.chunks = {"one\ntwo\nthree\n"}};
  buffered_reader in{m};
  CHECK(*run(in.read_line()) == "one");
  CHECK(m.read_sizes.size() == 1);
  CHECK(*run(in.read_line()) == "two");
  CHECK(*run(in.read_line()) == "three");
  CHECK(m.read_sizes.size() == 1);
}

TEST_CASE("a delimiter on the buffer's edge, and a \\r\\n split by it, are found") {
  SUBCASE("a line that fills the buffer exactly") {
    mock_stream m{.chunks = {"abcdefg\nhi\n"}};
    buffered_reader in{m, {.capacity = 8}};
    CHECK(*run(in.read_line()) == "abcdefg");
    CHECK(*run(in.read_line()) == "hi");
  }
  SUBCASE("\\r at the end of one fill, \\n at the start of the next") {
    mock_stream m{.chunks = {"xy\r\n", "abcde\r", "\nz\n"}};
    buffered_reader in{m, {.capacity = 8}};
    CHECK(*run(in.read_line()) == "xy");
    CHECK(*run(in.read_line()) == "abcde");
    CHECK(*run(in.read_line()) == "z");
  }
  SUBCASE("a string delimiter split over two fills, with the record moved to the front") {
    mock_stream m{.chunks = {"12345|", "|67|", "|"}};
    buffered_reader in{m, {.capacity = 8}};
    CHECK(*run(in.read_until("||")) == "12345||");
    CHECK(*run(in.read_until("||")) == "67||");
  }
}

TEST_CASE("a record longer than the limit gives too_long and keeps its bytes buffered") {
  SUBCASE("a buffer that never grows") {
    mock_stream m{.chunks = {"0123456789\nok\n"}};
    buffered_reader in{m, {.capacity = 8}};
    CHECK(run(in.read_line()).error() == stream_errc::too_long);
    CHECK(text(in.buffered()) == "01234567");
    CHECK(in.capacity() == 8);
    in.consume(in.buffered().size());  // skip it, and go on reading
    CHECK(*run(in.read_line()) == "89");
    CHECK(*run(in.read_line()) == "ok");
  }
  SUBCASE("a buffer allowed to grow up to max_capacity") {
    mock_stream m{.chunks = {std::string(20, 'a') + "\n" + std::string(40, 'b') + "\n"}};
    buffered_reader in{m, {.capacity = 8, .max_capacity = 32}};
    CHECK(*run(in.read_line()) == std::string(20, 'a'));
    CHECK(in.capacity() == 32);
    CHECK(run(in.read_line()).error() == stream_errc::too_long);
    CHECK(in.buffered().size() == 32);
  }
}

TEST_CASE("read_exact tells a clean end of stream from one inside the record") {
  SUBCASE("small records, collected in the buffer") {
    mock_stream m{.chunks = {"ab", "cd", "e"}};
    buffered_reader in{m, {.capacity = 16}};
    std::string out(3, '\0');
    CHECK(run(in.read_exact(std::span<char>(out))));
    CHECK(out == "abc");
    CHECK(run(in.read_exact(std::span<char>(out))).error() == stream_errc::unexpected_end_of_stream);
    CHECK(text(in.buffered()) == "de");  // the partial record stays buffered
    std::string two(2, '\0');
    CHECK(run(in.read_exact(std::span<char>(two))));
    CHECK(two == "de");
    CHECK(run(in.read_exact(std::span<char>(two))).error() == stream_errc::end_of_stream);
  }
  SUBCASE("records larger than the buffer, read straight into the span") {
    mock_stream m{.chunks = {"0123", "456789", "abcdefghij", "xyz"}};
    buffered_reader in{m, {.capacity = 4}};
    std::string first(2, '\0');
    CHECK(run(in.read_exact(std::span<char>(first))));  // buffers "0123"
    std::string out(10, '\0');
    CHECK(run(in.read_exact(std::span<char>(out))));
    CHECK(out == "23456789ab");
    // After the 2 buffered bytes, reads into the span itself: 8 asked (6 given), then 2.
    CHECK(m.read_sizes == std::vector<std::size_t>{4, 8, 2});
    std::string rest(20, '\0');
    CHECK(run(in.read_exact(std::span<char>(rest))).error() == stream_errc::unexpected_end_of_stream);
    CHECK(run(in.read_exact(std::span<char>(rest))).error() == stream_errc::end_of_stream);
  }
}

TEST_CASE("read gives buffered bytes first and reads large requests straight into the caller's span") {
  mock_stream m{.chunks = {"hello world", std::string(100, 'x')}};
  buffered_reader in{m, {.capacity = 16}};
  std::string small(5, '\0');
  CHECK(*run(in.read(std::span<char>(small))) == 5);
  CHECK(small == "hello");
  std::string big(64, '\0');
  CHECK(*run(in.read(std::span<char>(big))) == 6);  // only what is buffered: no second read
  CHECK(big.substr(0, 6) == " world");
  CHECK(m.read_sizes.size() == 1);
  CHECK(*run(in.read(std::span<char>(big))) == 64);  // nothing buffered, 64 >= capacity: bypass
  CHECK(m.read_sizes.back() == 64);
  CHECK(in.buffered().empty());
  CHECK(*run(in.read(std::span<char>(small))) == 5);  // smaller: fills the buffer
  CHECK(m.read_sizes.back() == 16);
  CHECK(in.buffered().size() == 11);
}

TEST_CASE("fill_buf shows the buffered bytes in place and consume drops them") {
  mock_stream m{.chunks = {"abc", "def"}};
  buffered_reader in{m};
  const result<std::span<const std::byte>> first = run(in.fill_buf());
  REQUIRE(first);
  CHECK(text(*first) == "abc");
  CHECK(first->data() == in.buffered().data());  // a view of the buffer, not a copy
  in.consume(1);
  CHECK(text(*run(in.fill_buf())) == "bc");  // buffered: no read
  CHECK(m.read_sizes.size() == 1);
  CHECK_THROWS_AS(in.consume(3), std::out_of_range);
  in.consume(2);
  CHECK(text(*run(in.fill_buf())) == "def");
  in.consume(3);
  CHECK(run(in.fill_buf())->empty());  // the end of the stream
}

TEST_CASE("a stream error reaches the caller and the partial line stays buffered") {
  mock_stream m{.chunks = {"partial"}, .read_error = std::make_error_code(std::errc::connection_reset)};
  buffered_reader in{m};
  CHECK(run(in.read_line()).error() == std::errc::connection_reset);
  CHECK(text(in.buffered()) == "partial");
  std::string out(10, '\0');
  CHECK(run(in.read_exact(std::span<char>(out))).error() == std::errc::connection_reset);
  CHECK(text(in.buffered()) == "partial");
}

TEST_CASE("bad arguments to a buffered reader or writer are errors, not crashes") {
  mock_stream m{.chunks = {"abc"}};
  buffered_reader in{m};
  CHECK(run(in.read_until(std::string_view{})).error() == std::errc::invalid_argument);
  CHECK_THROWS_AS(buffered_reader(m, {.capacity = 0}), std::invalid_argument);
  CHECK_THROWS_AS(buffered_writer(m, 0), std::invalid_argument);
  std::string none;
  CHECK(*run(in.read(std::span<char>(none))) == 0);  // an empty span reads nothing
  CHECK(run(in.read_exact(std::span<char>(none))));
  CHECK(m.read_sizes.empty());
}

TEST_CASE("buffered readers stack: a reader over a reader over a stream") {
  mock_stream m{.chunks = {"a\nb", "c\n"}};
  buffered_reader inner{m, {.capacity = 2}};
  buffered_reader outer{inner, {.capacity = 3}};
  CHECK(*run(outer.read_line()) == "a");
  CHECK(*run(outer.read_line()) == "bc");
  CHECK(run(outer.read_line()).error() == stream_errc::end_of_stream);
}

TEST_CASE("a buffered writer keeps small writes until flush and writes large ones from the caller's bytes") {
  mock_stream m;
  buffered_writer out{m, 16};
  CHECK(*run(out.write(std::span<const char>("abc", 3))) == 3);
  CHECK(run(out.write_all(std::string_view("def"))));
  CHECK(m.write_sources.empty());  // nothing written yet
  CHECK(text(out.buffered()) == "abcdef");
  const std::string big = pattern(40);
  CHECK(*run(out.write(std::as_bytes(std::span<const char>(big)))) == 40);
  REQUIRE(m.write_sources.size() == 2);  // the buffered bytes first, then `big` itself
  CHECK(m.write_sources[1] == reinterpret_cast<const std::byte*>(big.data()));  // not copied
  CHECK(out.buffered().empty());
  CHECK(run(out.write_all("gh")));  // a literal: without its NUL
  CHECK(run(out.flush()));
  CHECK(m.written == "abcdef" + big + "gh");
  CHECK(run(out.flush()));  // nothing buffered: no write
  CHECK(m.write_sources.size() == 3);
}

TEST_CASE("a buffered writer's write_all finishes a large write the stream takes in short pieces") {
  mock_stream m{.max_write = 7};
  buffered_writer out{m, 8};
  const std::string big = pattern(50);
  CHECK(*run(out.write(std::as_bytes(std::span<const char>(big)))) == 7);  // one direct write, short
  CHECK(run(out.write_all(std::span<const char>(big).subspan(7))));
  CHECK(run(out.flush()));
  CHECK(m.written == big);
}

TEST_CASE("a failed flush returns the error and keeps the unwritten bytes for the next flush") {
  mock_stream m{.max_write = 4};
  buffered_writer out{m, 64};
  CHECK(run(out.write_all(std::string_view("0123456789"))));
  m.write_error = std::make_error_code(std::errc::broken_pipe);
  CHECK(run(out.flush()).error() == std::errc::broken_pipe);
  CHECK(text(out.buffered()) == "0123456789");
  m.write_error = {};
  m.max_write = 100;
  CHECK(run(out.write_all(std::string_view("ab"))));
  CHECK(run(out.flush()));
  CHECK(m.written == "0123456789ab");
  CHECK(out.buffered().empty());
}

TEST_CASE("a flush that fails after a short write keeps only the bytes the stream did not take") {
  struct failing_second : mock_stream {
    int calls = 0;
    ready_size write(std::span<const std::byte> bytes) {
      if (++calls == 2) return {std::make_error_code(std::errc::connection_reset)};
      return mock_stream::write(bytes.first(std::min<std::size_t>(bytes.size(), 3)));
    }
  } m;
  buffered_writer out{m, 64};
  CHECK(run(out.write_all(std::string_view("abcdefgh"))));
  CHECK(run(out.flush()).error() == std::errc::connection_reset);
  CHECK(m.written == "abc");
  CHECK(text(out.buffered()) == "defgh");
  CHECK(run(out.flush()));
  CHECK(m.written == "abcdefgh");
}

TEST_CASE("a write that fails while flushing first takes none of its bytes") {
  mock_stream m;
  buffered_writer out{m, 8};
  CHECK(run(out.write_all(std::string_view("1234"))));
  m.write_error = std::make_error_code(std::errc::broken_pipe);
  const std::string more = "56789";  // does not fit: the buffered bytes go first, and fail
  CHECK(run(out.write(std::span<const char>(more))).error() == std::errc::broken_pipe);
  CHECK(text(out.buffered()) == "1234");
  CHECK(run(out.write_all(std::span<const char>(more))).error() == std::errc::broken_pipe);
  out.discard();
  CHECK(out.buffered().empty());
}

TEST_CASE("a stream whose write takes nothing gives io_error instead of spinning") {
  mock_stream m{.max_write = 0};
  buffered_writer out{m, 8};
  CHECK(run(out.write_all(std::string_view("abc"))));
  CHECK(run(out.flush()).error() == std::errc::io_error);
  out.discard();
  CHECK(run(coring::write_all(m, "x")).error() == std::errc::io_error);
}

TEST_CASE("buffered writers stack: flush writes the outer buffer out and flushes the inner one") {
  flushing_stream f;
  buffered_writer inner{f, 8};
  buffered_writer outer{inner, 4};
  CHECK(run(outer.write_all(std::string_view("ab"))));
  CHECK(run(outer.flush()));
  CHECK(f.inner.written == "ab");
  CHECK(f.flushes == 1);
}

TEST_CASE("write_all over any stream takes a string_view, a literal, a span of char or of bytes") {
  mock_stream m{.max_write = 2};
  CHECK(run(coring::write_all(m, std::string_view("one "))));
  CHECK(run(coring::write_all(m, "two ")));  // without the NUL
  const std::vector<char> chars{'t', 'h', 'r', 'e', 'e', ' '};
  CHECK(run(coring::write_all(m, std::span<const char>(chars))));
  CHECK(run(coring::write_all(m, chars)));
  const std::string four = "four";
  CHECK(run(coring::write_all(m, std::as_bytes(std::span<const char>(four)))));
  CHECK(m.written == "one two three three four");
}

TEST_CASE("a buffered writer destroyed with unflushed bytes reports them; discard() silences it") {
  coring::runtime rt{coring_test::small_runtime()};
  std::mutex lock;
  std::vector<std::error_code> reported;
  std::string what;
  rt.set_unhandled_exception_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& error) {
      std::lock_guard guard(lock);
      reported.push_back(error.code());
      what = error.what();
    } catch (...) {
    }
  });
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on([](coring::executor home) -> task<void> {
      co_await coring::on(home);
      mock_stream m;
      {
        buffered_writer out{m};
        CHECK(co_await out.write_all(std::string_view("lost")));
      }  // destroyed unflushed: reported
      {
        buffered_writer out{m};
        CHECK(co_await out.write_all(std::string_view("dropped on purpose")));
        out.discard();
      }
      {
        buffered_writer out{m};
        CHECK(co_await out.write_all(std::string_view("kept")));
        CHECK(co_await out.flush());
      }
      CHECK(m.written == "kept");
    }(ex));
  }
  std::lock_guard guard(lock);
  REQUIRE(reported.size() == 2);  // once on each pool
  CHECK(reported[0] == stream_errc::unflushed_data);
  CHECK(reported[1] == stream_errc::unflushed_data);
  CHECK(what.find("4 bytes") != std::string::npos);
}

TEST_CASE("stream_errc codes have their own category and messages") {
  const std::error_code eos = stream_errc::end_of_stream;
  CHECK(eos.category().name() == std::string_view("coring.stream"));
  CHECK(eos != std::errc::connection_aborted);
  CHECK(std::error_code(stream_errc::unexpected_end_of_stream) != eos);
  CHECK(!std::error_code(stream_errc::too_long).message().empty());
  CHECK(std::error_code(static_cast<stream_errc>(99)).message().find("99") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Over TCP, Unix stream sockets and files, from both pools

namespace {

constexpr std::size_t record_size = 100000;

/// One side of the protocol these tests speak, written once for any write stream: a few lines,
/// one longer than the reader's first buffer, then "DATA <n>" and n raw bytes (a write far
/// larger than the writer's buffer), then "end".
template <class S>
task<void> produce(buffered_writer<S>& out, coring::executor home) {
  CHECK(co_await out.write_all("alpha\n"));
  CHECK(co_await out.write_all(std::string_view("beta\r\n")));
  const std::string long_line(3000, 'L');
  CHECK(co_await out.write_all(long_line));
  CHECK(co_await out.write_all(std::span<const char>("\n", 1)));
  CHECK(co_await out.write_all("DATA " + std::to_string(record_size) + "\n"));
  const std::string record = pattern(record_size);
  CHECK(co_await out.write_all(record));
  CHECK(co_await out.write_all("end\n"));
  CHECK(home.running_in_this_thread());
  CHECK(co_await out.flush());
  CHECK(out.buffered().empty());
  CHECK(home.running_in_this_thread());
}

/// The other side, also written once for any read stream.
template <class S>
task<void> consume(buffered_reader<S>& in, coring::executor home) {
  CHECK(*co_await in.read_line() == "alpha");
  CHECK(home.running_in_this_thread());
  CHECK(*co_await in.read_line() == "beta");
  const result<std::string_view> long_line = co_await in.read_line();
  REQUIRE(long_line);
  CHECK(*long_line == std::string(3000, 'L'));
  CHECK(*co_await in.read_line() == "DATA " + std::to_string(record_size));
  std::string record(record_size, '\0');
  CHECK(co_await in.read_exact(std::span<char>(record)));
  CHECK(record == pattern(record_size));
  CHECK(*co_await in.read_line() == "end");
  const result<std::string_view> after = co_await in.read_line();
  CHECK(after.error() == stream_errc::end_of_stream);
  CHECK(home.running_in_this_thread());
}

constexpr coring::buffered_reader_options reader_options{.capacity = 1024, .max_capacity = 4096};

template <class S>
task<void> produce_then_close(S stream, coring::executor home) {
  buffered_writer out{stream, 512};
  co_await produce(out, home);
  CHECK(co_await stream.close());
}

task<void> over_tcp(coring::executor home) {
  auto [a, b] = co_await tcp_pair();
  buffered_reader in{a, reader_options};
  co_await coring::when_all(produce_then_close(std::move(b), home), consume(in, home));
}

task<void> over_unix(coring::executor home) {
  auto [a, b] = unix_pair();
  buffered_reader in{std::move(a), reader_options};  // owns its stream
  co_await coring::when_all(produce_then_close(std::move(b), home), consume(in, home));
}

task<void> over_file(coring::executor home, std::string path) {
  coring::file f = (co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC)).value();
  {
    buffered_writer out{coring::file_stream{f}, 512};
    co_await produce(out, home);
    CHECK(out.stream().position() > record_size);
  }
  buffered_reader in{coring::file_stream{f}, reader_options};
  co_await consume(in, home);
  CHECK(co_await f.close());
}

void on_both_pools(coring::runtime& rt, task<void> (*body)(coring::executor)) {
  for (coring::executor ex : {rt.io(), rt.cpu()}) rt.block_on(join(coring::spawn(ex, body(ex))));
}

/// The peer has sent "partial"; a read_line ended by a timeout, then by a cancellation, keeps it.
template <class Stream>
task<void> cancel_keeps_data(Stream& a, Stream& b, coring::executor home) {
  buffered_reader in{a};
  CHECK(co_await b.write_all(std::string_view("partial")));
  const result<std::string_view> timed_out = co_await coring::timeout(200ms, in.read_line());
  CHECK(timed_out.error() == std::errc::timed_out);
  CHECK(home.running_in_this_thread());
  CHECK(text(in.buffered()) == "partial");

  CHECK(co_await b.write_all(std::string_view(" li")));
  std::atomic<bool> started{false};
  auto reading = coring::spawn(
      home, [](buffered_reader<Stream&>& reader, std::atomic<bool>& flag) -> task<std::error_code> {
        flag.store(true);
        const result<std::string_view> line = co_await reader.read_line();
        co_return line.error();
      }(in, started));
  while (!started.load()) (void)co_await coring::sleep_for(1ms);
  (void)co_await coring::sleep_for(50ms);  // it reads " li", then waits for the rest
  reading.cancel();
  CHECK(co_await reading == std::errc::operation_canceled);

  CHECK(co_await b.write_all(std::string_view("ne\nnext\n")));
  CHECK(*co_await in.read_line() == "partial line");  // nothing read before the cancels is lost
  CHECK(*co_await in.read_line() == "next");
  CHECK(home.running_in_this_thread());
}

}  // namespace

TEST_CASE("one parser reads lines and records over TCP, written by a buffered writer, on both pools") {
  coring::runtime rt{coring_test::small_runtime()};
  on_both_pools(rt, over_tcp);
}

TEST_CASE("one parser reads lines and records over a Unix stream socket it owns, on both pools") {
  coring::runtime rt{coring_test::small_runtime()};
  on_both_pools(rt, over_unix);
}

TEST_CASE("one parser reads lines and records from a file through file_stream, on both pools") {
  coring::runtime rt{coring_test::small_runtime()};
  coring_test::temp_dir dir;
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on(join(coring::spawn(ex, over_file(ex, dir.path("records.txt")))));
  }
}

TEST_CASE("a read_line canceled while it waits keeps the bytes it read, over Unix sockets and TCP") {
  coring::runtime rt{coring_test::small_runtime()};
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on(join(coring::spawn(ex, [](coring::executor home) -> task<void> {
      auto [a, b] = unix_pair();
      co_await cancel_keeps_data(a, b, home);
    }(ex))));
    rt.block_on(join(coring::spawn(ex, [](coring::executor home) -> task<void> {
      auto [a, b] = co_await tcp_pair();
      co_await cancel_keeps_data(a, b, home);
    }(ex))));
  }
}

TEST_CASE("a reset TCP peer ends a buffered read_line with connection_reset") {
  coring::runtime rt{coring_test::small_runtime()};
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on(join(coring::spawn(ex, [](coring::executor home) -> task<void> {
      auto [a, b] = co_await tcp_pair();
      buffered_reader in{a};
      const ::linger abort_on_close{1, 0};  // close() sends RST instead of FIN
      REQUIRE(::setsockopt(b.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                           sizeof abort_on_close) == 0);
      CHECK(co_await b.close());
      CHECK((co_await in.read_line()).error() == std::errc::connection_reset);
      CHECK(home.running_in_this_thread());
    }(ex))));
  }
}

TEST_CASE("a buffered writer's flush to a closed peer fails and keeps the bytes, over Unix sockets and TCP") {
  coring_test::default_sigpipe sigpipe;  // a write that raised SIGPIPE would end the run
  coring::runtime rt{coring_test::small_runtime()};
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on(join(coring::spawn(ex, [](coring::executor home) -> task<void> {
      auto [a, b] = unix_pair();
      CHECK(co_await b.close());
      buffered_writer out{a, 64};
      CHECK(co_await out.write_all("0123456789"));
      CHECK((co_await out.flush()).error() == std::errc::broken_pipe);
      CHECK(text(out.buffered()) == "0123456789");
      CHECK(home.running_in_this_thread());
      out.discard();
    }(ex))));
    rt.block_on(join(coring::spawn(ex, [](coring::executor home) -> task<void> {
      auto [a, b] = co_await tcp_pair();
      CHECK(co_await b.close());
      buffered_writer out{a, 64};
      std::error_code error;
      // The first sends may still succeed (the peer answers them with a reset).
      for (int i = 0; i < 1000 && !error; ++i) {
        CHECK(co_await out.write_all("0123456789"));
        error = (co_await out.flush()).error();
        if (!error) (void)co_await coring::sleep_for(1ms);
      }
      CHECK((error == std::errc::broken_pipe || error == std::errc::connection_reset));
      CHECK(text(out.buffered()) == "0123456789");  // the failed flush's bytes are still there
      CHECK(home.running_in_this_thread());
      out.discard();
    }(ex))));
  }
}

TEST_CASE("write_all takes a string_view or a span of char on tcp_stream, unix_stream and file_stream") {
  coring::runtime rt{coring_test::small_runtime()};
  coring_test::temp_dir dir;
  const std::string path = dir.path("text.txt");
  rt.block_on([](std::string where) -> task<void> {
    const std::vector<char> chars{'c', 'h', 'a', 'r', 's'};
    auto [t1, t2] = co_await tcp_pair();
    CHECK(co_await t1.write_all(std::string_view("tcp ")));
    CHECK(co_await t1.write_all(std::span<const char>(chars)));
    CHECK(co_await t1.write_all(" literal"));
    std::string got(17, '\0');
    buffered_reader tin{t2};
    CHECK(co_await tin.read_exact(std::span<char>(got)));
    CHECK(got == "tcp chars literal");

    auto [u1, u2] = unix_pair();
    CHECK(co_await u1.write_all(std::string("unix ")));
    CHECK(co_await u1.write_all(chars));
    std::string ugot(10, '\0');
    CHECK((co_await u2.read(std::span<char>(ugot))).value_or(999) ==
          10);  // one socketpair send: all at once here
    CHECK(ugot == "unix chars");

    coring::file f = (co_await coring::file::open(where, O_RDWR | O_CREAT | O_TRUNC)).value();
    coring::file_stream fs{f};
    CHECK(co_await fs.write_all("file "));
    CHECK(co_await fs.write_all(std::span<const char>(chars)));
    CHECK(fs.position() == 10);
    std::string fgot(10, '\0');
    CHECK((co_await f.read_at(std::span<char>(fgot), 0)).value_or(999) == 10);
    CHECK(fgot == "file chars");
  }(path));
}

TEST_CASE("file_stream advances its position by what each transfer moved, and not on a failure") {
  coring::runtime rt{coring_test::small_runtime()};
  coring_test::temp_dir dir;
  const std::string path = dir.path("positions.txt");
  for (coring::executor ex : {rt.io(), rt.cpu()}) {
    rt.block_on(join(coring::spawn(ex, [](coring::executor home, std::string where) -> task<void> {
      coring::file f = (co_await coring::file::open(where, O_WRONLY | O_CREAT | O_TRUNC)).value();
      coring::file_stream out{f};
      CHECK((co_await out.write(std::span<const char>("hello", 5))).value_or(999) == 5);
      CHECK(home.running_in_this_thread());
      CHECK(out.position() == 5);
      std::string buffer(4, '\0');
      CHECK((co_await out.read(std::span<char>(buffer))).error() == std::errc::bad_file_descriptor);
      CHECK(out.position() == 5);  // a write-only file: the read failed, the position stayed
      CHECK(co_await f.close());

      coring::file r = (co_await coring::file::open(where)).value();
      coring::file_stream in{r, 1};
      CHECK((co_await coring::timeout(10s, in.read(std::span<char>(buffer)))).value_or(999) ==
            4);  // a linked timeout
      CHECK(buffer == "ello");
      CHECK((co_await in.read(std::span<char>(buffer))).value_or(999) == 0);  // the end of the file
      CHECK(in.position() == 5);
      in.seek(0);
      CHECK((co_await in.read(std::span<char>(buffer))).value_or(999) == 4);
      CHECK(buffer == "hell");
      CHECK(&in.underlying() == &r);
    }(ex, path))));
  }
}
