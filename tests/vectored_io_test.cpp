// SPDX-License-Identifier: MIT
// Tests for the vectored (iovec) forms of coring::file and coring::net::tcp_stream: gather writes
// and scatter reads through the ring, the read_all/write_all loops that resume short transfers
// across iovec boundaries, empty spans, closed descriptors, writes to a vanished peer, and the same
// operations from io-pool and CPU-pool tasks.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread, and a task
// may end on another thread than it started on.

// Compared as a condition: the kernel reports it in the system category.
constexpr std::errc bad_fd = std::errc::bad_file_descriptor;

using coring_test::temp_dir;

/// Bytes that depend on their position and on `seed`, so that a byte in the wrong place shows.
std::vector<char> bytes_for(std::size_t size, unsigned seed) {
  std::vector<char> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 31 + i / 509 + seed * 97) % 241);
  return out;
}

iovec vec_of(std::vector<char>& v) {
  return iovec{v.data(), v.size()};
}

/// The buffers, one after the other.
std::vector<char> joined(const std::vector<std::vector<char>>& parts) {
  std::vector<char> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

/// Buffers of the given sizes, each with its own contents.
std::vector<std::vector<char>> buffers_of(const std::vector<std::size_t>& sizes, unsigned seed) {
  std::vector<std::vector<char>> parts;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    parts.push_back(bytes_for(sizes[i], seed + static_cast<unsigned>(i)));
  }
  return parts;
}

std::vector<iovec> vecs_of(std::vector<std::vector<char>>& parts) {
  std::vector<iovec> vecs;
  for (auto& p : parts) vecs.push_back(vec_of(p));
  return vecs;
}

bool same_vecs(const std::vector<iovec>& a, const std::vector<iovec>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].iov_base != b[i].iov_base || a[i].iov_len != b[i].iov_len) return false;
  }
  return true;
}

struct socket_pair {
  tcp_stream client;
  tcp_stream server;
};

/// Connects to `listener` over loopback and accepts that connection.
task<socket_pair> connected(const tcp_listener& listener) {
  const coring::result<endpoint> where = listener.local_endpoint();
  REQUIRE(where);
  coring::result<tcp_stream> client = co_await tcp_stream::connect(*where);
  REQUIRE(client);
  coring::result<tcp_stream> server = co_await listener.accept();
  REQUIRE(server);
  co_return socket_pair{std::move(*client), std::move(*server)};
}

tcp_listener loopback_listener() {
  coring::result<tcp_listener> listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE_MESSAGE(listener, "bind: " << listener.error().message());
  return std::move(*listener);
}

/// Shrinks a socket's kernel buffer, so that large writes come back short.
void small_buffer(const tcp_stream& s, int option) {
  const int size = 16 * 1024;
  REQUIRE(::setsockopt(s.native_handle(), SOL_SOCKET, option, &size, sizeof size) == 0);
}

/// Reads `total` bytes with scatter reads into three odd-sized buffers, pausing now and then so
/// that the writer keeps finding the socket full. Returns what arrived (less on error or end).
task<std::vector<char>> slow_scatter_reader(const tcp_stream& s, std::size_t total, coring::executor home) {
  std::vector<char> got;
  got.reserve(total);
  std::array<char, 1000> a{};
  std::array<char, 3333> b{};
  std::array<char, 7> c{};
  const std::array<iovec, 3> vecs = {iovec{a.data(), a.size()}, iovec{b.data(), b.size()},
                                     iovec{c.data(), c.size()}};
  for (int reads = 0; got.size() < total; ++reads) {
    const coring::result<std::size_t> n = co_await s.read(std::span<const iovec>(vecs));
    CHECK(home.running_in_this_thread());
    if (!n || *n == 0) break;
    std::size_t left = *n;
    for (const iovec& v : vecs) {
      const std::size_t take = std::min(left, v.iov_len);
      const char* from = static_cast<const char*>(v.iov_base);
      got.insert(got.end(), from, from + take);
      left -= take;
    }
    if (reads % 32 == 0) co_await coring::sleep_for(std::chrono::milliseconds(1));
  }
  co_return got;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

}  // namespace

TEST_CASE(
    "a vectored gather write to a file is read back by a scatter read, from io-pool and CPU-pool tasks") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime, std::string path) -> task<void> {
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      const coring::executor home = on_cpu ? runtime.cpu() : runtime.io();

      coring::result<coring::file> f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
      REQUIRE(f);
      std::vector<std::vector<char>> out = buffers_of({7, 1000, 3, 4093}, on_cpu ? 10 : 20);
      const std::vector<iovec> out_vecs = vecs_of(out);
      const std::vector<char> expected = joined(out);
      const std::uint64_t offset = 5;

      const coring::result<std::size_t> written =
          co_await f->write_at(std::span<const iovec>(out_vecs), offset);
      CHECK(home.running_in_this_thread());
      REQUIRE(written);
      REQUIRE(*written == expected.size());

      // Three buffers that split the data elsewhere than the write did; the last is larger than
      // what is left, so the read ends at end of file.
      std::vector<std::vector<char>> in = {std::vector<char>(13), std::vector<char>(2001),
                                           std::vector<char>(expected.size() - 2014 + 50)};
      const std::vector<iovec> in_vecs = vecs_of(in);
      const coring::result<std::size_t> read = co_await f->read_at(std::span<const iovec>(in_vecs), offset);
      CHECK(home.running_in_this_thread());
      REQUIRE(read);
      REQUIRE(*read == expected.size());
      std::vector<char> back = joined(in);
      back.resize(*read);
      CHECK(back == expected);

      // The hole before `offset` reads as zeros, and the scatter read starts at the offset given.
      std::array<char, 2> zeros{'x', 'x'};
      std::array<char, 4> head{};
      const std::array<iovec, 2> split = {iovec{zeros.data(), zeros.size()}, iovec{head.data(), head.size()}};
      const coring::result<std::size_t> start = co_await f->read_at(std::span<const iovec>(split), 3);
      REQUIRE(start);
      CHECK(*start == 6);
      CHECK(zeros == std::array<char, 2>{0, 0});
      CHECK(std::vector<char>(head.begin(), head.end()) ==
            std::vector<char>(expected.begin(), expected.begin() + 4));
      CHECK(co_await f->close());
    }
  }(rt, dir.path("gather.bin")));
}

TEST_CASE(
    "vectored file write_all and read_all over more iovecs than one operation takes keep every byte in "
    "order") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime, std::string path) -> task<void> {
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      const coring::executor home = on_cpu ? runtime.cpu() : runtime.io();

      coring::result<coring::file> f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
      REQUIRE(f);
      // 2500 buffers (more than max_iovecs), some of them empty, of sizes 0..96 bytes.
      std::vector<std::size_t> sizes;
      for (std::size_t i = 0; i < 2500; ++i) sizes.push_back(i % 11 == 0 ? 0 : (i * 37) % 97);
      std::vector<std::vector<char>> out = buffers_of(sizes, on_cpu ? 3 : 4);
      const std::vector<iovec> out_vecs = vecs_of(out);
      const std::vector<iovec> out_vecs_before = out_vecs;
      const std::vector<char> expected = joined(out);

      const coring::result<void> written = co_await f->write_all(std::span<const iovec>(out_vecs), 100);
      CHECK(home.running_in_this_thread());
      REQUIRE(written);
      CHECK(same_vecs(out_vecs, out_vecs_before));  // the caller's array is left alone

      // Read back into 1500 buffers of another size each, plus room past the end.
      std::vector<std::size_t> in_sizes;
      std::size_t room = 0;
      for (std::size_t i = 0; room < expected.size() + 100; ++i) {
        in_sizes.push_back(1 + (i * 53) % 151);
        room += in_sizes.back();
      }
      std::vector<std::vector<char>> in = buffers_of(in_sizes, 0);
      const std::vector<iovec> in_vecs = vecs_of(in);
      const coring::result<std::size_t> read = co_await f->read_all(std::span<const iovec>(in_vecs), 100);
      CHECK(home.running_in_this_thread());
      REQUIRE(read);
      CHECK(*read == expected.size());
      std::vector<char> back = joined(in);
      back.resize(*read);
      CHECK(back == expected);
      CHECK(co_await f->close());
    }
  }(rt, dir.path("many.bin")));
}

TEST_CASE("vectored file write_all copies the iovec array when called, so a temporary array may go away") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](std::string path) -> task<void> {
    coring::result<coring::file> f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(f);
    std::vector<std::vector<char>> out = buffers_of({300, 5, 700}, 7);
    task<coring::result<void>> pending = [&] {
      std::vector<iovec> temporary = vecs_of(out);
      task<coring::result<void>> t = f->write_all(std::span<const iovec>(temporary), 0);
      temporary.assign(temporary.size(), iovec{nullptr, 0});  // then freed
      return t;
    }();
    REQUIRE(co_await std::move(pending));
    std::vector<char> back(1005);
    const coring::result<std::size_t> read =
        co_await f->read_all(std::as_writable_bytes(std::span<char>(back)), 0);
    REQUIRE(read);
    CHECK(*read == 1005);
    CHECK(back == joined(out));
  }(dir.path("copy.bin")));
}

TEST_CASE("a single vectored TCP write to a peer that does not read comes back short and says how much") {
  coring::runtime rt{coring_test::small_runtime()};
  tcp_listener listener = loopback_listener();
  rt.block_on([](const tcp_listener& acceptor) -> task<void> {
    socket_pair c = co_await connected(acceptor);
    small_buffer(c.client, SO_SNDBUF);
    small_buffer(c.server, SO_RCVBUF);
    std::vector<std::vector<char>> out = buffers_of(std::vector<std::size_t>(64, 64 * 1024), 1);
    const std::vector<iovec> vecs = vecs_of(out);
    const std::vector<char> expected = joined(out);

    const coring::result<std::size_t> sent = co_await c.client.write(std::span<const iovec>(vecs));
    REQUIRE(sent);
    CHECK(*sent > 0);
    CHECK(*sent < expected.size());

    std::vector<char> got(*sent);
    REQUIRE(co_await c.server.read_exact(std::as_writable_bytes(std::span<char>(got))));
    CHECK(std::equal(got.begin(), got.end(), expected.begin()));
  }(listener));
}

TEST_CASE(
    "vectored TCP write_all of 64 iovecs of 64 KiB reaches a slow scatter reader complete and in order") {
  coring::runtime rt{coring_test::small_runtime()};
  tcp_listener listener = loopback_listener();
  for (const bool writer_on_cpu : {false, true}) {
    CAPTURE(writer_on_cpu);
    socket_pair c = rt.block_on(connected(listener));
    small_buffer(c.client, SO_SNDBUF);
    small_buffer(c.server, SO_RCVBUF);
    std::vector<std::vector<char>> out =
        buffers_of(std::vector<std::size_t>(64, 64 * 1024), writer_on_cpu ? 100 : 200);
    const std::vector<iovec> vecs = vecs_of(out);
    const std::vector<char> expected = joined(out);

    auto reader = coring::spawn(rt.io(), slow_scatter_reader(c.server, expected.size(), rt.io()));
    const coring::executor home = writer_on_cpu ? rt.cpu() : rt.io();
    const coring::result<void> written =
        rt.block_on([](coring::executor where, const tcp_stream& s,
                       std::span<const iovec> data) -> task<coring::result<void>> {
          co_await coring::on(where);
          coring::result<void> r = co_await s.write_all(data);
          CHECK(where.running_in_this_thread());
          co_return r;
        }(home, c.client, vecs));
    REQUIRE_MESSAGE(written, written.error().message());
    const std::vector<char> got = rt.block_on(join(std::move(reader)));
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
  }
}

TEST_CASE("empty vectored (iovec) spans transfer nothing and succeed, on files and TCP streams") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  tcp_listener listener = loopback_listener();
  rt.block_on([](std::string path, const tcp_listener& acceptor) -> task<void> {
    coring::result<coring::file> f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(f);
    const std::span<const iovec> none;
    char unused = 0;
    const std::array<iovec, 2> hollow = {iovec{&unused, 0}, iovec{nullptr, 0}};

    for (const std::span<const iovec> empty : {none, std::span<const iovec>(hollow)}) {
      coring::result<std::size_t> n = co_await f->write_at(empty, 0);
      REQUIRE(n);
      CHECK(*n == 0);
      n = co_await f->read_at(empty, 0);
      REQUIRE(n);
      CHECK(*n == 0);
      CHECK(co_await f->write_all(empty, 0));
      const coring::result<std::size_t> all = co_await f->read_all(empty, 0);
      REQUIRE(all);
      CHECK(*all == 0);
    }

    socket_pair c = co_await connected(acceptor);
    for (const std::span<const iovec> empty : {none, std::span<const iovec>(hollow)}) {
      const coring::result<std::size_t> sent = co_await c.client.write(empty);
      REQUIRE(sent);
      CHECK(*sent == 0);
      CHECK(co_await c.client.write_all(empty));
      const coring::result<std::size_t> got = co_await c.server.read(empty);
      REQUIRE(got);
      CHECK(*got == 0);
    }
  }(dir.path("empty.bin"), listener));
}

TEST_CASE("vectored reads and writes on an unopened or closed file or TCP stream give bad_file_descriptor") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  tcp_listener listener = loopback_listener();
  rt.block_on([](coring::runtime& runtime, std::string path, const tcp_listener& acceptor) -> task<void> {
    std::array<char, 8> a{};
    std::array<char, 3> b{};
    const std::array<iovec, 2> vecs = {iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
    const std::span<const iovec> some(vecs);
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      const coring::executor home = on_cpu ? runtime.cpu() : runtime.io();

      coring::file unopened;
      CHECK((co_await unopened.read_at(some, 0)).error() == bad_fd);
      CHECK((co_await unopened.write_at(some, 0)).error() == bad_fd);
      CHECK((co_await unopened.read_all(some, 0)).error() == bad_fd);
      CHECK((co_await unopened.write_all(some, 0)).error() == bad_fd);
      coring::result<coring::file> f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
      REQUIRE(f);
      CHECK(co_await f->close());
      CHECK((co_await f->read_at(some, 0)).error() == bad_fd);
      CHECK((co_await f->write_at(some, 0)).error() == bad_fd);
      CHECK((co_await f->write_all(some, 0)).error() == bad_fd);
      CHECK(home.running_in_this_thread());

      const tcp_stream unconnected;
      CHECK((co_await unconnected.read(some)).error() == bad_fd);
      CHECK((co_await unconnected.write(some)).error() == bad_fd);
      CHECK((co_await unconnected.write_all(some)).error() == bad_fd);
      socket_pair c = co_await connected(acceptor);
      CHECK(co_await c.client.close());
      CHECK((co_await c.client.read(some)).error() == bad_fd);
      CHECK((co_await c.client.write(some)).error() == bad_fd);
      CHECK((co_await c.client.write_all(some)).error() == bad_fd);
      CHECK(home.running_in_this_thread());
    }
  }(rt, dir.path("closed.bin"), listener));
}

TEST_CASE("a vectored write to a TCP peer that closed gives broken_pipe or connection_reset, not SIGPIPE") {
  const coring_test::default_sigpipe guard;
  coring::runtime rt{coring_test::small_runtime()};
  tcp_listener listener = loopback_listener();
  for (const bool use_write_all : {false, true}) {
    CAPTURE(use_write_all);
    const std::error_code error = rt.block_on(
        [](coring::runtime& runtime, const tcp_listener& acceptor, bool all) -> task<std::error_code> {
          socket_pair c = co_await connected(acceptor);
          c.server = tcp_stream{};  // the peer goes away
          co_await coring::on(runtime.cpu());
          std::vector<std::vector<char>> out = buffers_of({4096, 1, 8191}, 5);
          const std::vector<iovec> vecs = vecs_of(out);
          // The first writes may still be taken by the kernel; the peer answers them with a reset.
          for (int attempt = 0; attempt < 1000; ++attempt) {
            if (all) {
              const coring::result<void> r = co_await c.client.write_all(std::span<const iovec>(vecs));
              if (!r) co_return r.error();
            } else {
              const coring::result<std::size_t> n = co_await c.client.write(std::span<const iovec>(vecs));
              if (!n) co_return n.error();
            }
            CHECK(runtime.cpu().running_in_this_thread());
            co_await coring::sleep_for(std::chrono::milliseconds(1));
          }
          co_return std::error_code{};
        }(rt, listener, use_write_all));
    CAPTURE(error.message());
    CHECK((error == std::errc::broken_pipe || error == std::errc::connection_reset));
  }
}
