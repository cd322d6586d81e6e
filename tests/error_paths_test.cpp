// SPDX-License-Identifier: MIT
// Error paths not covered elsewhere: every operation on a closed or invalid descriptor reports
// bad_file_descriptor (file sync/datasync/read_all/write_all after close, TCP helpers and socket
// options, a listener that is not open, UDP after close, waits on closed descriptors), and the
// kernel's errors for a read from a directory, opens that cannot work, a read on an unconnected
// TCP socket and a send on an unconnected UDP socket. Each from an io-pool and a CPU-pool task.
// (Covered elsewhere: read_at/write_at/stat on closed files, read/write on closed TCP streams,
// UDP on a default socket, wait_readable(-1), connection_refused, opening a missing file.)
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <coring/coring.hpp>
#include <coring/fs.hpp>
#include <coring/wait_fd.hpp>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "support.hpp"

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;
using coring::net::udp_socket;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

// Compared as conditions: the kernel reports errors in the system category, the library in the generic one.
constexpr std::errc bad_fd = std::errc::bad_file_descriptor;

using coring_test::temp_dir;

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// A descriptor number that is not open now (checked with fcntl).
int closed_descriptor() {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  ::close(fds[0]);
  ::close(fds[1]);
  REQUIRE(::fcntl(fds[1], F_GETFD) == -1);
  return fds[1];
}

}  // namespace

TEST_CASE("sync, datasync, read_all and write_all on a closed file give bad_file_descriptor") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime, std::string file_path) -> task<void> {
    std::array<std::byte, 16> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      coring::result<coring::file> opened = co_await coring::file::open(file_path, O_RDWR | O_CREAT, 0600);
      REQUIRE(opened);
      coring::file f = std::move(*opened);
      REQUIRE(co_await f.close());
      CHECK((co_await f.sync()).error() == bad_fd);
      CHECK((co_await f.datasync()).error() == bad_fd);
      CHECK((co_await f.read_all(buffer, 0)).error() == bad_fd);
      CHECK((co_await f.write_all(buffer, 0)).error() == bad_fd);

      const coring::file unopened;
      CHECK((co_await unopened.datasync()).error() == bad_fd);
      CHECK((co_await unopened.write_all(buffer, 0)).error() == bad_fd);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt, dir.path("closed.bin")));
}

TEST_CASE(
    "reading a pipe's write end or writing its read end through coring::file gives bad_file_descriptor") {
  coring::runtime rt{coring_test::small_runtime()};
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  rt.block_on([](coring::runtime& runtime, int read_end, int write_end) -> task<void> {
    std::array<char, 8> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      coring::file reader{::dup(read_end)};
      coring::file writer{::dup(write_end)};
      CHECK((co_await writer.read_at(std::span<char>(buffer), 0)).error() == bad_fd);
      CHECK((co_await reader.write_at(std::span<const char>(buffer), 0)).error() == bad_fd);
    }
  }(rt, fds[0], fds[1]));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("reading a directory gives is_a_directory") {
  temp_dir dir;
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime, std::string dir_path) -> task<void> {
    std::array<char, 64> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      coring::result<coring::file> opened = co_await coring::file::open(dir_path, O_RDONLY);
      REQUIRE(opened);  // opening a directory read-only is allowed; reading it is not
      const coring::result<std::size_t> n = co_await opened->read_at(std::span<char>(buffer), 0);
      CHECK(n.error() == std::errc::is_a_directory);
      const coring::result<std::string> whole = co_await coring::fs::read_file(dir_path);
      CHECK(whole.error() == std::errc::is_a_directory);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt, dir.path()));
}

TEST_CASE("opens that cannot work report the kernel's error") {
  temp_dir dir;
  const std::string regular = dir.path("regular.txt");
  std::ofstream(regular) << "text";
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime, std::string dir_path, std::string file_path) -> task<void> {
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      // A directory cannot be opened for writing.
      coring::result<coring::file> f = co_await coring::file::open(dir_path, O_WRONLY);
      CHECK(f.error() == std::errc::is_a_directory);
      // O_DIRECTORY on a regular file; a path that goes through a regular file.
      f = co_await coring::file::open(file_path, O_RDONLY | O_DIRECTORY);
      CHECK(f.error() == std::errc::not_a_directory);
      f = co_await coring::file::open(file_path + "/child", O_RDONLY);
      CHECK(f.error() == std::errc::not_a_directory);
      // The empty path names nothing.
      f = co_await coring::file::open("", O_RDONLY);
      CHECK(f.error() == std::errc::no_such_file_or_directory);
    }
  }(rt, dir.path(), regular));
}

TEST_CASE(
    "TCP helpers and socket options on a closed stream, and accept on a listener that is not open, give "
    "bad_file_descriptor") {
  coring::runtime rt{coring_test::small_runtime()};
  coring::result<tcp_listener> listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  rt.block_on([](coring::runtime& runtime, const tcp_listener& open_listener) -> task<void> {
    std::array<std::byte, 8> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      coring::result<tcp_stream> client =
          co_await tcp_stream::connect(open_listener.local_endpoint().value());
      REQUIRE(client);
      coring::result<tcp_stream> server = co_await open_listener.accept();
      REQUIRE(server);
      REQUIRE(co_await client->close());
      CHECK((co_await client->read_exact(buffer)).error() == bad_fd);
      CHECK((co_await client->write_all(buffer)).error() == bad_fd);
      CHECK(client->shutdown(SHUT_WR).error() == bad_fd);
      CHECK(client->set_nodelay(true).error() == bad_fd);

      const tcp_listener not_open;
      CHECK_FALSE(not_open.is_open());
      CHECK(not_open.local_endpoint().error() == bad_fd);
      const coring::result<tcp_stream> accepted = co_await not_open.accept();
      CHECK(accepted.error() == bad_fd);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt, *listener));
}

TEST_CASE("reading a TCP socket that never connected gives not_connected") {
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime) -> task<void> {
    std::array<char, 8> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      const tcp_stream unconnected{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
      REQUIRE(unconnected.is_open());
      CHECK((co_await unconnected.read(std::span<char>(buffer))).error() == std::errc::not_connected);
      CHECK(unconnected.peer_endpoint().error() == std::errc::not_connected);
    }
  }(rt));
}

TEST_CASE(
    "UDP operations after close give bad_file_descriptor; send without a peer gives "
    "destination_address_required") {
  coring::runtime rt{coring_test::small_runtime()};
  rt.block_on([](coring::runtime& runtime) -> task<void> {
    std::array<std::byte, 8> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      coring::result<udp_socket> s = udp_socket::bind(endpoint::loopback_v4(0));
      REQUIRE(s);
      const endpoint self = s->local_endpoint().value();
      // Bound but not connected: send() has nowhere to go.
      CHECK((co_await s->send(bytes_of("x"))).error() == std::errc::destination_address_required);

      REQUIRE(co_await s->close());
      CHECK_FALSE(s->is_open());
      CHECK((co_await s->send_to(bytes_of("x"), self)).error() == bad_fd);
      CHECK((co_await s->receive_from(buffer)).error() == bad_fd);
      CHECK((co_await s->send(bytes_of("x"))).error() == bad_fd);
      CHECK((co_await s->receive(buffer)).error() == bad_fd);
      CHECK(s->connect(self).error() == bad_fd);
      CHECK(s->local_endpoint().error() == bad_fd);
      CHECK((co_await s->close()).error() == bad_fd);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt));
}

TEST_CASE("waiting on a negative or closed descriptor gives bad_file_descriptor") {
  coring::runtime rt{coring_test::small_runtime()};
  const int closed = closed_descriptor();
  rt.block_on([](coring::runtime& runtime, int closed_fd) -> task<void> {
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      CHECK((co_await coring::wait_writable(-1)).error() == bad_fd);
      CHECK((co_await coring::wait_readable(closed_fd)).error() == bad_fd);
      CHECK((co_await coring::wait_writable(closed_fd)).error() == bad_fd);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt, closed));
}
