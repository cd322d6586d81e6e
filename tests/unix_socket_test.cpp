// SPDX-License-Identifier: MIT
// Tests for coring::net::unix_listener and unix_stream (include/coring/net/unix_*.hpp): an echo
// round trip over a socket in a fresh mkdtemp directory, and the errors for a missing path and a
// path too long for sockaddr_un.
#include <doctest/doctest.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <coring/coring.hpp>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;
using coring::net::unix_listener;
using coring::net::unix_stream;

using coring_test::temp_dir;

/// Accepts one connection and echoes until the peer closes; gives the bytes echoed.
task<std::size_t> echo_once(coring::runtime& rt, const unix_listener& listener) {
  coring::result<unix_stream> s = co_await listener.accept();
  CHECK(rt.io().running_in_this_thread());
  REQUIRE_MESSAGE(s, "accept: " << s.error().message());
  std::array<char, 256> buffer{};
  std::size_t total = 0;
  for (;;) {
    const coring::result<std::size_t> n = co_await s->read(buffer);
    REQUIRE(n);
    if (*n == 0) break;
    std::size_t sent = 0;
    while (sent < *n) {
      const coring::result<std::size_t> w =
          co_await s->write(std::span<const char>(buffer.data() + sent, *n - sent));
      REQUIRE(w);
      sent += *w;
    }
    total += *n;
  }
  co_return total;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

}  // namespace

TEST_CASE("a Unix stream socket echoes between an io-pool server and a CPU-pool client") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  temp_dir dir;
  const std::string path = dir.path("echo.sock");
  coring::result<unix_listener> listener = unix_listener::bind(path);
  REQUIRE_MESSAGE(listener, "bind " << path << ": " << listener.error().message());
  CHECK(listener->is_open());

  auto server = coring::spawn(rt.io(), echo_once(rt, *listener));
  auto client = coring::spawn(rt.cpu(), [](coring::runtime& runtime, std::string where) -> task<std::string> {
    coring::result<unix_stream> s = co_await unix_stream::connect(where);
    CHECK(runtime.cpu().running_in_this_thread());
    REQUIRE_MESSAGE(s, "connect: " << s.error().message());
    std::string echoed;
    for (const std::string_view part :
         {std::string_view("hello "), std::string_view("unix "), std::string_view("domain")}) {
      const coring::result<std::size_t> w =
          co_await s->write(std::span<const char>(part.data(), part.size()));
      CHECK(runtime.cpu().running_in_this_thread());
      REQUIRE(w);
      REQUIRE(*w == part.size());
      std::array<char, 64> buffer{};
      std::size_t got = 0;
      while (got < part.size()) {
        const coring::result<std::size_t> n =
            co_await s->read(std::span<char>(buffer.data() + got, part.size() - got));
        CHECK(runtime.cpu().running_in_this_thread());
        REQUIRE(n);
        REQUIRE(*n > 0);
        got += *n;
      }
      echoed.append(buffer.data(), got);
    }
    const coring::result<void> closed = co_await s->close();
    CHECK(closed);
    CHECK_FALSE(s->is_open());
    co_return echoed;
  }(rt, path));

  CHECK(rt.block_on(join(std::move(client))) == "hello unix domain");
  CHECK(rt.block_on(join(std::move(server))) == 17);
}

TEST_CASE("binding a Unix listener to a path that exists fails with address_in_use") {
  temp_dir dir;
  const std::string path = dir.path("taken.sock");
  coring::result<unix_listener> first = unix_listener::bind(path);
  REQUIRE(first);
  const coring::result<unix_listener> second = unix_listener::bind(path);
  CHECK(second.error() == std::errc::address_in_use);
}

TEST_CASE("connecting a Unix stream to a missing path gives no_such_file_or_directory") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  temp_dir dir;
  const std::string path = dir.path("nobody.sock");
  const coring::result<unix_stream> s =
      rt.block_on([](std::string where) -> task<coring::result<unix_stream>> {
        co_return co_await unix_stream::connect(where);
      }(path));
  CHECK(s.error() == std::errc::no_such_file_or_directory);  // Linux: ENOENT, not ECONNREFUSED
}

TEST_CASE("a Unix socket path longer than sun_path gives filename_too_long") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string too_long = "/tmp/" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
  const coring::result<unix_listener> listener = unix_listener::bind(too_long);
  CHECK(listener.error() == std::errc::filename_too_long);
  const coring::result<unix_stream> s =
      rt.block_on([](std::string where) -> task<coring::result<unix_stream>> {
        co_return co_await unix_stream::connect(where);
      }(too_long));
  CHECK(s.error() == std::errc::filename_too_long);
}
