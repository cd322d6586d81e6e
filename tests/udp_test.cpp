// SPDX-License-Identifier: MIT
// Tests for coring::net::udp_socket (include/coring/net/udp_socket.hpp): loopback datagrams
// (127.0.0.1 and, where the host has it, [::1]) with send_to/receive_from and on a connected
// socket, the error on a socket that is not open, cancellation of a blocked receive, and the pool
// a task resumes on.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::udp_socket;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

/// Binds a socket on `where` (port 0). A host without ::1 gives nullopt, so the caller skips IPv6.
std::optional<udp_socket> bind_on(const endpoint& where) {
  coring::result<udp_socket> s = udp_socket::bind(where);
  if (!s && where.is_v6()) {
    MESSAGE("IPv6 loopback unavailable (" << s.error().message() << "): IPv6 case skipped");
    return std::nullopt;
  }
  REQUIRE_MESSAGE(s, "bind " << where.to_string() << ": " << s.error().message());
  return std::move(*s);
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

std::string_view text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

}  // namespace

TEST_CASE("UDP send_to/receive_from round trip on loopback reports the sender's endpoint") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (const endpoint& where : {endpoint::loopback_v4(0), endpoint::loopback_v6(0)}) {
    CAPTURE(where.to_string());
    std::optional<udp_socket> a = bind_on(where);
    if (!a) continue;
    std::optional<udp_socket> b = bind_on(where);
    REQUIRE(b);
    const endpoint a_at = a->local_endpoint().value();
    const endpoint b_at = b->local_endpoint().value();
    CHECK(a_at.port() != 0);
    CHECK(a_at.family() == where.family());

    rt.block_on([](coring::runtime& runtime, const udp_socket& from, const udp_socket& to, endpoint from_at,
                   endpoint to_at) -> task<void> {
      const coring::result<std::size_t> sent = co_await from.send_to(bytes_of("hello, datagram"), to_at);
      CHECK(runtime.io().running_in_this_thread());
      REQUIRE(sent);
      CHECK(*sent == 15);

      std::array<std::byte, 64> buffer{};
      const coring::result<coring::net::received> got = co_await to.receive_from(buffer);
      CHECK(runtime.io().running_in_this_thread());
      REQUIRE(got);
      CHECK(got->size == 15);
      CHECK(text_of(std::span(buffer).first(got->size)) == "hello, datagram");
      CHECK(got->from == from_at);

      // And back, to the address the datagram came from.
      REQUIRE(co_await to.send_to(bytes_of("reply"), got->from));
      const coring::result<coring::net::received> back = co_await from.receive_from(buffer);
      REQUIRE(back);
      CHECK(text_of(std::span(buffer).first(back->size)) == "reply");
      CHECK(back->from == to_at);
    }(rt, *a, *b, a_at, b_at));
  }
}

TEST_CASE("connected UDP sockets exchange datagrams with send/receive") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::optional<udp_socket> a = bind_on(endpoint::loopback_v4(0));
  std::optional<udp_socket> b = bind_on(endpoint::loopback_v4(0));
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->connect(b->local_endpoint().value()));
  REQUIRE(b->connect(a->local_endpoint().value()));

  rt.block_on([](const udp_socket& x, const udp_socket& y) -> task<void> {
    const coring::result<std::size_t> sent = co_await x.send(bytes_of("ping"));
    REQUIRE(sent);
    CHECK(*sent == 4);
    std::array<std::byte, 16> buffer{};
    const coring::result<std::size_t> got = co_await y.receive(buffer);
    REQUIRE(got);
    CHECK(text_of(std::span(buffer).first(*got)) == "ping");

    REQUIRE(co_await y.send(bytes_of("pong!")));
    const coring::result<std::size_t> back = co_await x.receive(buffer);
    REQUIRE(back);
    CHECK(text_of(std::span(buffer).first(*back)) == "pong!");
  }(*a, *b));
}

TEST_CASE("UDP operations on a socket that is not open give bad_file_descriptor") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const udp_socket closed;
  CHECK_FALSE(closed.is_open());
  CHECK(closed.local_endpoint().error() == std::errc::bad_file_descriptor);
  rt.block_on([](const udp_socket& s) -> task<void> {
    std::array<std::byte, 8> buffer{};
    const coring::result<coring::net::received> from = co_await s.receive_from(buffer);
    CHECK(from.error() == std::errc::bad_file_descriptor);
    const coring::result<std::size_t> got = co_await s.receive(buffer);
    CHECK(got.error() == std::errc::bad_file_descriptor);
    const coring::result<std::size_t> sent = co_await s.send_to(bytes_of("x"), endpoint::loopback_v4(9));
    CHECK(sent.error() == std::errc::bad_file_descriptor);
  }(closed));
}

namespace {

struct receive_outcome {
  coring::result<coring::net::received> got = std::errc::io_error;
  bool at_home_after = false;
};

task<receive_outcome> blocked_receive(coring::executor home, const udp_socket& s,
                                      std::atomic<bool>& started) {
  co_await coring::on(home);
  std::array<std::byte, 512> buffer{};  // in the frame: the kernel must let go of it first
  started.store(true);
  receive_outcome outcome;
  outcome.got = co_await s.receive_from(buffer);
  outcome.at_home_after = home.running_in_this_thread();
  co_return outcome;
}

}  // namespace

TEST_CASE("cancelling a task blocked in UDP receive_from completes it with operation_canceled") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::optional<udp_socket> s = bind_on(endpoint::loopback_v4(0));
  REQUIRE(s);

  std::atomic<bool> started{false};
  auto handle = coring::spawn(rt.cpu(), blocked_receive(rt.cpu(), *s, started));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!started.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(started.load());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the receive reach the kernel
  CHECK_FALSE(handle.done());

  handle.cancel();
  const receive_outcome outcome = rt.block_on(join(std::move(handle)));
  CHECK(outcome.got.error() == std::errc::operation_canceled);
  CHECK(outcome.at_home_after);
}

TEST_CASE("a CPU-pool task stays on the CPU pool across UDP operations") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::optional<udp_socket> a = bind_on(endpoint::loopback_v4(0));
  std::optional<udp_socket> b = bind_on(endpoint::loopback_v4(0));
  REQUIRE(a);
  REQUIRE(b);
  const endpoint b_at = b->local_endpoint().value();

  auto handle = coring::spawn(
      rt.cpu(), [](coring::runtime& runtime, const udp_socket& x, udp_socket& y, endpoint y_at) -> task<int> {
        int on_cpu = 0;
        std::array<std::byte, 32> buffer{};
        for (int i = 0; i < 8; ++i) {
          REQUIRE(co_await x.send_to(bytes_of("cpu"), y_at));
          on_cpu += runtime.cpu().running_in_this_thread() ? 1 : 0;
          const coring::result<coring::net::received> got = co_await y.receive_from(buffer);
          REQUIRE(got);
          CHECK(got->size == 3);
          on_cpu += runtime.cpu().running_in_this_thread() ? 1 : 0;
        }
        REQUIRE(y.connect(x.local_endpoint().value()));
        REQUIRE(co_await x.send_to(bytes_of("last"), y_at));
        on_cpu += runtime.cpu().running_in_this_thread() ? 1 : 0;
        const coring::result<std::size_t> n = co_await y.receive(buffer);
        REQUIRE(n);
        CHECK(*n == 4);
        on_cpu += runtime.cpu().running_in_this_thread() ? 1 : 0;
        const coring::result<void> closed = co_await y.close();
        CHECK(closed);
        on_cpu += runtime.cpu().running_in_this_thread() ? 1 : 0;
        co_return on_cpu;
      }(rt, *a, *b, b_at));
  CHECK(rt.block_on(join(std::move(handle))) == 19);
}
