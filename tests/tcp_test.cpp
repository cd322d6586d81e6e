// SPDX-License-Identifier: MIT
// Tests for coring::net::tcp_listener and tcp_stream (include/coring/net/): loopback connections
// (127.0.0.1 and, where the host has it, [::1]) driven from io-pool and CPU-pool tasks, the errors
// the kernel reports, cancellation of a blocked read and runtime shutdown with a read in flight.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
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

// Compared as a condition: the kernel reports it in the system category, the library in the generic one.
constexpr std::errc bad_fd = std::errc::bad_file_descriptor;

/// Binds a listener on `where` (port 0: any free port). For IPv6, a host without ::1 gives
/// nullopt after a MESSAGE, so that the caller skips that family.
std::optional<tcp_listener> listen_on(const endpoint& where, coring::net::listen_options options = {}) {
  coring::result<tcp_listener> listener = tcp_listener::bind(where, options);
  if (!listener && where.is_v6()) {
    MESSAGE("IPv6 loopback unavailable (" << listener.error().message() << "): IPv6 case skipped");
    return std::nullopt;
  }
  REQUIRE_MESSAGE(listener, "bind " << where.to_string() << ": " << listener.error().message());
  return std::move(*listener);
}

const std::array<endpoint, 2> loopbacks = {endpoint::loopback_v4(0), endpoint::loopback_v6(0)};

/// Bytes that vary with their position, so that a lost, duplicated or reordered chunk is noticed.
std::vector<char> pattern(std::size_t size) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7 + i / 997) % 253);
  return bytes;
}

/// Sends all of `data`, looping over short writes; checks after every write that the task still
/// runs on `home`.
task<coring::result<void>> write_all(const tcp_stream& s, std::span<const char> data, coring::executor home) {
  while (!data.empty()) {
    coring::result<std::size_t> n = co_await s.write(data);
    CHECK(home.running_in_this_thread());
    if (!n) co_return n.error();
    data = data.subspan(*n);
  }
  co_return coring::result<void>{};
}

/// Fills `buffer`, looping over short reads; stops early when the peer closes. Returns the bytes
/// read. Checks after every read that the task still runs on `home`.
task<coring::result<std::size_t>> read_exact(const tcp_stream& s, std::span<char> buffer,
                                             coring::executor home) {
  std::size_t total = 0;
  while (total < buffer.size()) {
    coring::result<std::size_t> n = co_await s.read(buffer.subspan(total));
    CHECK(home.running_in_this_thread());
    if (!n) co_return n.error();
    if (*n == 0) break;
    total += *n;
  }
  co_return total;
}

struct connection {
  tcp_stream client;
  tcp_stream server;
};

/// Connects to `listener` and accepts that connection.
task<connection> connect_to(const tcp_listener& listener) {
  const coring::result<endpoint> where = listener.local_endpoint();
  REQUIRE(where);
  coring::result<tcp_stream> client = co_await tcp_stream::connect(*where);
  REQUIRE_MESSAGE(client, "connect: " << client.error().message());
  coring::result<tcp_stream> server = co_await listener.accept();
  REQUIRE_MESSAGE(server, "accept: " << server.error().message());
  co_return connection{std::move(*client), std::move(*server)};
}

struct echo_side {
  std::size_t bytes = 0;  // echoed by the server; sent and verified by the client
  endpoint local;
  endpoint peer;
};

/// Accepts one connection and echoes everything until the peer closes; on the io pool.
task<echo_side> echo_server(coring::runtime& rt, const tcp_listener& listener) {
  CHECK(rt.io().running_in_this_thread());
  coring::result<tcp_stream> s = co_await listener.accept();
  CHECK(rt.io().running_in_this_thread());
  REQUIRE(s);
  echo_side side;
  side.local = s->local_endpoint().value();
  side.peer = s->peer_endpoint().value();
  std::vector<char> buffer(8192);
  for (;;) {
    const coring::result<std::size_t> n = co_await s->read(buffer);
    CHECK(rt.io().running_in_this_thread());
    REQUIRE(n);
    if (*n == 0) break;  // the client closed
    REQUIRE(co_await write_all(*s, std::span<const char>(buffer.data(), *n), rt.io()));
    side.bytes += *n;
  }
  co_return side;
}

/// Connects to `where` from the CPU pool, sends `total` bytes in chunks of varying size and reads
/// each chunk's echo back before sending the next; then closes.
task<echo_side> echo_client(coring::runtime& rt, endpoint where, std::size_t total) {
  CHECK(rt.cpu().running_in_this_thread());
  coring::result<tcp_stream> s = co_await tcp_stream::connect(where);
  CHECK(rt.cpu().running_in_this_thread());
  REQUIRE_MESSAGE(s, "connect: " << s.error().message());
  echo_side side;
  side.local = s->local_endpoint().value();
  side.peer = s->peer_endpoint().value();

  const std::vector<char> data = pattern(total);
  std::vector<char> back(total);
  std::size_t chunk = 1;
  for (std::size_t sent = 0; sent < total; sent += chunk) {
    chunk = std::min(total - sent, chunk * 3 + 1);  // 4, 13, 40, ... bytes, capped at what is left
    const std::span<const char> out(data.data() + sent, chunk);
    REQUIRE(co_await write_all(*s, out, rt.cpu()));
    const coring::result<std::size_t> n =
        co_await read_exact(*s, std::span<char>(back.data() + sent, chunk), rt.cpu());
    REQUIRE(n);
    REQUIRE(*n == chunk);
    side.bytes += *n;
  }
  CHECK(back == data);
  const coring::result<void> closed = co_await s->close();
  CHECK(rt.cpu().running_in_this_thread());
  CHECK(closed);
  co_return side;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

/// Waits (bounded) until `flag` is set by a task.
void wait_for(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(flag.load());
}

}  // namespace

TEST_CASE("a TCP listener bound to port 0 reports the port it got from the kernel") {
  for (const endpoint& where : loopbacks) {
    CAPTURE(where.to_string());
    std::optional<tcp_listener> listener = listen_on(where);
    if (!listener) continue;
    CHECK(listener->is_open());
    const coring::result<endpoint> local = listener->local_endpoint();
    REQUIRE(local);
    CHECK(local->port() != 0);
    CHECK(local->family() == where.family());
    CHECK(local->address_string() == where.address_string());
  }
}

TEST_CASE("64 KiB echoed over TCP between an io-pool server and a CPU-pool client arrive intact, in order") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (const endpoint& where : loopbacks) {
    CAPTURE(where.to_string());
    std::optional<tcp_listener> listener = listen_on(where);
    if (!listener) continue;
    const endpoint bound = listener->local_endpoint().value();

    auto server = coring::spawn(rt.io(), echo_server(rt, *listener));
    auto client = coring::spawn(rt.cpu(), echo_client(rt, bound, 64 * 1024));
    const echo_side c = rt.block_on(join(std::move(client)));
    const echo_side s = rt.block_on(join(std::move(server)));

    CHECK(c.bytes == 64 * 1024);
    CHECK(s.bytes == 64 * 1024);
    // Both ends agree on who is who.
    CHECK(c.peer == bound);
    CHECK(s.local == bound);
    CHECK(c.local == s.peer);
    CHECK(c.local.family() == where.family());
    CHECK(c.local.port() != 0);
  }
}

TEST_CASE("a TCP read returns 0 once the peer has closed its end, after the data it sent") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  for (const endpoint& where : loopbacks) {
    CAPTURE(where.to_string());
    std::optional<tcp_listener> listener = listen_on(where);
    if (!listener) continue;
    rt.block_on([](coring::runtime& runtime, const tcp_listener& acceptor_socket) -> task<void> {
      connection c = co_await connect_to(acceptor_socket);
      const std::string bye = "bye";
      REQUIRE(co_await write_all(c.server, bye, runtime.io()));
      const coring::result<void> closed = co_await c.server.close();
      CHECK(closed);

      co_await coring::on(runtime.cpu());
      std::array<char, 16> buffer{};
      const coring::result<std::size_t> bytes =
          co_await read_exact(c.client, std::span<char>(buffer), runtime.cpu());
      REQUIRE(bytes);
      CHECK(std::string(buffer.data(), *bytes) == "bye");
      const coring::result<std::size_t> eof = co_await c.client.read(std::span<char>(buffer));
      CHECK(runtime.cpu().running_in_this_thread());
      REQUIRE(eof);
      CHECK(*eof == 0);
      const coring::result<std::size_t> again = co_await c.client.read(std::span<char>(buffer));
      REQUIRE(again);
      CHECK(*again == 0);
    }(rt, *listener));
  }
}

TEST_CASE("connecting over TCP to a port nobody listens on gives connection_refused") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  // A socket bound to a loopback port but not listening holds the port, so that no other process
  // can start listening there during the test; connections to it are refused.
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(holder >= 0);
  const endpoint any_port = endpoint::loopback_v4(0);
  REQUIRE(::bind(holder, any_port.data(), any_port.size()) == 0);
  endpoint held;
  socklen_t len = endpoint::capacity();
  REQUIRE(::getsockname(holder, held.data(), &len) == 0);
  REQUIRE(held.port() != 0);

  const auto [from_io, from_cpu] = rt.block_on(
      [](coring::runtime& runtime, endpoint target) -> task<std::pair<std::error_code, std::error_code>> {
        const coring::result<tcp_stream> a = co_await tcp_stream::connect(target);
        CHECK(runtime.io().running_in_this_thread());
        co_await coring::on(runtime.cpu());
        const coring::result<tcp_stream> b = co_await tcp_stream::connect(target);
        CHECK(runtime.cpu().running_in_this_thread());
        co_return std::pair{a.error(), b.error()};
      }(rt, held));
  ::close(holder);

  CHECK(from_io == std::errc::connection_refused);
  CHECK(from_cpu == std::errc::connection_refused);
}

TEST_CASE(
    "writing to a TCP connection the peer closed fails with broken_pipe or connection_reset, not SIGPIPE") {
  const coring_test::default_sigpipe sigpipe_kills;  // a SIGPIPE would end the whole test process
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const std::error_code error =
      rt.block_on([](coring::runtime& runtime, const tcp_listener& acceptor_socket) -> task<std::error_code> {
        connection c = co_await connect_to(acceptor_socket);
        c.server = tcp_stream{};  // the peer goes away (closed at once)
        co_await coring::on(runtime.cpu());
        const std::vector<char> bytes(16 * 1024, 'x');
        // The first writes may still be accepted by the kernel; the peer answers them with a reset.
        for (int attempt = 0; attempt < 1000; ++attempt) {
          const coring::result<std::size_t> n = co_await c.client.write(bytes);
          CHECK(runtime.cpu().running_in_this_thread());
          if (!n) co_return n.error();
          co_await coring::sleep_for(std::chrono::milliseconds(1));
        }
        co_return std::error_code{};
      }(rt, *listener));
  CAPTURE(error.message());
  CHECK((error == std::errc::broken_pipe || error == std::errc::connection_reset));
}

TEST_CASE("reads and writes on an unconnected or closed TCP stream give bad_file_descriptor") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
  REQUIRE(listener);
  rt.block_on([](coring::runtime& runtime, const tcp_listener& acceptor_socket) -> task<void> {
    std::array<char, 8> buffer{};
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());
      const coring::executor home = on_cpu ? runtime.cpu() : runtime.io();

      const tcp_stream unconnected;
      CHECK_FALSE(unconnected.is_open());
      coring::result<std::size_t> r = co_await unconnected.read(std::span<char>(buffer));
      CHECK(r.error() == bad_fd);
      coring::result<std::size_t> w = co_await unconnected.write(std::span<const char>(buffer));
      CHECK(w.error() == bad_fd);
      CHECK(unconnected.peer_endpoint().error() == bad_fd);
      CHECK(unconnected.local_endpoint().error() == bad_fd);
      CHECK(home.running_in_this_thread());

      connection c = co_await connect_to(acceptor_socket);
      const coring::result<void> closed = co_await c.client.close();
      CHECK(closed);
      const coring::result<void> closed_again = co_await c.client.close();
      CHECK(closed_again.error() == bad_fd);
      r = co_await c.client.read(std::span<char>(buffer));
      CHECK(r.error() == bad_fd);
      w = co_await c.client.write(std::span<const char>(buffer));
      CHECK(w.error() == bad_fd);
      CHECK(home.running_in_this_thread());
    }
  }(rt, *listener));
}

TEST_CASE("binding a TCP listener to an address in use gives address_in_use") {
  for (const endpoint& where : loopbacks) {
    CAPTURE(where.to_string());
    std::optional<tcp_listener> first = listen_on(where);
    if (!first) continue;
    const endpoint taken = first->local_endpoint().value();
    const coring::result<tcp_listener> second = tcp_listener::bind(taken);
    CHECK(second.error() == std::errc::address_in_use);
  }
}

namespace {

/// Echoes one connection until the peer closes; returns the bytes echoed.
task<std::size_t> echo_connection(coring::runtime& rt, tcp_stream s) {
  std::array<char, 256> buffer{};
  std::size_t total = 0;
  for (;;) {
    const coring::result<std::size_t> n = co_await s.read(std::span<char>(buffer));
    CHECK(rt.io().running_in_this_thread());
    if (!n || *n == 0) break;
    if (!co_await write_all(s, std::span<const char>(buffer.data(), *n), rt.io())) break;
    total += *n;
  }
  co_return total;
}

struct accept_report {
  std::size_t accepted = 0;
  std::size_t echoed = 0;
};

/// Accepts `count` connections (or until accept fails), echoing each in its own io-pool task.
task<accept_report> accept_and_echo(coring::runtime& rt, const tcp_listener& listener, std::size_t count) {
  std::vector<coring::join_handle<std::size_t>> handlers;
  accept_report report;
  while (report.accepted < count) {
    coring::result<tcp_stream> s = co_await listener.accept();
    CHECK(rt.io().running_in_this_thread());
    if (!s) break;
    ++report.accepted;
    handlers.push_back(coring::spawn(rt.io(), echo_connection(rt, std::move(*s))));
  }
  for (auto& h : handlers) report.echoed += co_await h;
  co_return report;
}

/// Connects, sends a message naming `index`, and returns the echo; empty on any failure.
task<std::string> echo_once(endpoint where, std::size_t index, coring::executor home) {
  coring::result<tcp_stream> s = co_await tcp_stream::connect(where);
  CHECK(home.running_in_this_thread());
  if (!s) {
    FAIL_CHECK("connect " << index << ": " << s.error().message());
    co_return std::string{};
  }
  const std::string message = "hello from connection #" + std::to_string(index);
  if (!co_await write_all(*s, message, home)) co_return std::string{};
  std::string back(message.size(), '\0');
  const coring::result<std::size_t> n = co_await read_exact(*s, back, home);
  if (!n) co_return std::string{};
  back.resize(*n);
  co_return back;  // the stream closes here, which ends the server's handler
}

}  // namespace

TEST_CASE("200 concurrent TCP connections each get their own message echoed back") {
  constexpr std::size_t connections = 200;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const endpoint where = listener->local_endpoint().value();

  auto acceptor = coring::spawn(rt.io(), accept_and_echo(rt, *listener, connections));
  std::vector<coring::join_handle<std::string>> clients;
  for (std::size_t i = 0; i < connections; ++i) {
    const coring::executor home = i % 2 == 0 ? rt.cpu() : rt.io();
    clients.push_back(coring::spawn(home, echo_once(where, i, home)));
  }

  std::size_t expected_bytes = 0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < connections; ++i) {
    const std::string expected = "hello from connection #" + std::to_string(i);
    expected_bytes += expected.size();
    const std::string got = rt.block_on(join(std::move(clients[i])));
    if (got == expected) {
      ++correct;
    } else {
      FAIL_CHECK("connection " << i << " got '" << got << "'");
    }
  }
  CHECK(correct == connections);
  if (correct != connections) acceptor.cancel();  // some never connected: do not wait for them
  const accept_report report = rt.block_on(join(std::move(acceptor)));
  CHECK(report.accepted == connections);
  CHECK(report.echoed == expected_bytes);
}

namespace {

struct read_outcome {
  coring::result<std::size_t> read;
  bool at_home_after = false;  // the task resumed on the pool it awaited from
};

/// Reads into a buffer in its own frame, on `home`'s pool; the peer never writes.
task<read_outcome> blocked_read(coring::executor home, const tcp_stream& s, std::atomic<bool>& started) {
  co_await coring::on(home);
  std::array<char, 4096> buffer{};  // in this task's frame: the kernel must be done with it first
  started.store(true);
  read_outcome outcome;
  outcome.read = co_await s.read(std::span<char>(buffer));
  outcome.at_home_after = home.running_in_this_thread();
  co_return outcome;
}

struct cancel_outcome {
  std::error_code join_error;  // set when joining threw: the task was canceled before it started
  read_outcome task;
};

/// Joins a canceled blocked_read. The exception of a task canceled before it started is caught
/// here, on the runtime's thread, so that no exception object is shared between threads.
task<cancel_outcome> join_canceled(coring::join_handle<read_outcome> handle) {
  cancel_outcome outcome;
  try {
    outcome.task = co_await handle;
  } catch (const std::system_error& e) {
    outcome.join_error = e.code();
  }
  co_return outcome;
}

/// Checks that no read is left in the kernel on the client end: bytes the server sends now stay in
/// the socket for the next reader (instead of landing in a freed frame).
void check_no_read_left(const connection& c) {
  const char ping[] = "ping";
  REQUIRE(::send(c.server.native_handle(), ping, 4, MSG_NOSIGNAL) == 4);
  pollfd readable{c.client.native_handle(), POLLIN, 0};
  REQUIRE(::poll(&readable, 1, 5000) == 1);
  char got[8] = {};
  REQUIRE(::recv(c.client.native_handle(), got, sizeof got, MSG_DONTWAIT) == 4);
  CHECK(std::string(got, 4) == "ping");
}

}  // namespace

TEST_CASE("cancelling a task blocked in a TCP read completes the read with operation_canceled") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const connection c = rt.block_on(connect_to(*listener));

  std::atomic<bool> started{false};
  auto handle = coring::spawn(rt.cpu(), blocked_read(rt.cpu(), c.client, started));
  wait_for(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the read reach the kernel
  CHECK_FALSE(handle.done());

  handle.cancel();
  const read_outcome outcome = rt.block_on(join(std::move(handle)));  // the frame is freed after this
  CHECK(outcome.read.error() == std::errc::operation_canceled);
  CHECK(outcome.at_home_after);
  check_no_read_left(c);
}

TEST_CASE(
    "a TCP read cancelled at any moment completes with operation_canceled and leaves nothing in the kernel") {
  // Cancels race with the read being handed to the io loop and submitted: whatever the timing, the
  // task must see operation_canceled only after the kernel let go of its buffer.
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const connection c = rt.block_on(connect_to(*listener));

  int failures = 0;
  for (int i = 0; i < 200 && failures == 0; ++i) {
    const coring::executor home = i % 2 == 0 ? rt.cpu() : rt.io();
    std::atomic<bool> started{false};
    auto handle = coring::spawn(home, blocked_read(home, c.client, started));
    if (i % 4 >= 2) wait_for(started);
    if (i % 8 >= 4) std::this_thread::sleep_for(std::chrono::microseconds(50 * (i % 13)));
    handle.cancel();
    const cancel_outcome outcome = rt.block_on(join_canceled(std::move(handle)));
    if (outcome.join_error) {
      // Canceled before it started: the task never ran, so no read was ever issued.
      CHECK(outcome.join_error == std::errc::operation_canceled);
      CHECK_FALSE(started.load());
      continue;
    }
    const coring::result<std::size_t>& read = outcome.task.read;
    const bool at_home = outcome.task.at_home_after;
    if (read.error() != std::errc::operation_canceled || !at_home) ++failures;
    CHECK(read.error() == std::errc::operation_canceled);
    CHECK(at_home);
    check_no_read_left(c);
  }
}

namespace {

/// Reads forever (the peer never writes) with a counted local in its frame.
task<void> read_forever(coring::runtime& rt, tcp_stream s, bool on_cpu, std::atomic<bool>& started) {
  if (on_cpu) co_await coring::on(rt.cpu());
  const coring_test::counted witness;
  std::array<char, 1024> buffer{};
  started.store(true);
  const coring::result<std::size_t> n = co_await s.read(std::span<char>(buffer));
  FAIL_CHECK("a read with no data completed: " << (n ? std::to_string(*n) : n.error().message()));
}

}  // namespace

TEST_CASE("runtime shutdown with a TCP read in flight returns and destroys the reading task's frame") {
  for (const bool on_cpu : {false, true}) {
    CAPTURE(on_cpu);
    const int alive_before = coring_test::counted::alive.load();
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
    std::optional<tcp_listener> listener = listen_on(endpoint::loopback_v4(0));
    REQUIRE(listener);
    connection c = rt.block_on(connect_to(*listener));

    std::atomic<bool> started{false};
    auto handle = coring::spawn(rt.io(), read_forever(rt, std::move(c.client), on_cpu, started));
    wait_for(started);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the read reach the kernel
    CHECK(coring_test::counted::alive.load() == alive_before + 1);
    CHECK_FALSE(handle.done());

    rt.shutdown();
    CHECK(coring_test::counted::alive.load() == alive_before);
    CHECK(handle.done());
  }
}

TEST_CASE("a read into an empty buffer completes at once with 0, a closed stream still says so") {
  coring::runtime rt{coring_test::small_runtime()};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  auto body = [&]() -> task<void> {
    auto client = co_await tcp_stream::connect(*listener->local_endpoint());
    REQUIRE(client);
    auto n = co_await client->read(std::span<char>{});  // the peer never writes: must not wait
    REQUIRE(n);
    CHECK(*n == 0);
    tcp_stream closed;
    auto bad = co_await closed.read(std::span<char>{});
    CHECK(bad.error() == bad_fd);
  };
  rt.block_on(body());
}
