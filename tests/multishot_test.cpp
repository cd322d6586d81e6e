// SPDX-License-Identifier: MIT
// Multishot requests: tcp_listener::incoming() (one accept request for every connection) and
// tcp_stream::receive_chunks() (one receive request into the loop's provided-buffer ring).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coring::runtime;
using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;
using coring_test::small_runtime;

namespace {

tcp_listener listen_any() {
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  return std::move(*listener);
}

/// A plain blocking client socket connected to `port`.
int connect_blocking(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

std::uint16_t port_of(const tcp_listener& listener) {
  auto local = listener.local_endpoint();
  REQUIRE(local);
  return local->port();
}

/// Reads until `size` bytes arrived (a blocking socket).
std::string read_blocking(int fd, std::size_t size) {
  std::string out;
  char buffer[4096];
  while (out.size() < size) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

/// Whether `rt`'s loops accept one connection per request: io_uring on a kernel before 5.19 (or one
/// the suite's --coring-old-kernel pretends), which has no multishot accept.
bool accepts_one_per_request(const runtime& rt) {
  return rt.backend() == coring::backend_kind::io_uring &&
         !coring::detail::probe_uring_support().multishot_accept;
}

}  // namespace

TEST_CASE("incoming() accepts every connection through one multishot request") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr int connections = 50;
  auto server = [&]() -> task<int> {
    auto incoming = listener.incoming();
    int served = 0;
    for (int i = 0; i < connections; ++i) {
      auto stream = co_await incoming.next();
      REQUIRE(stream);
      char byte = 0;
      auto n = co_await stream->read(std::span<char>(&byte, 1));
      REQUIRE(n);
      CHECK(*n == 1);
      auto w = co_await stream->write(std::span<const char>(&byte, 1));
      CHECK(w);
      ++served;
    }
    co_return served;
  };
  auto handle = coring::spawn(rt.io(), server());
  const auto submissions_before = rt.metrics().ring_submissions;
  for (int i = 0; i < connections; ++i) {
    const int fd = connect_blocking(port);
    const char byte = static_cast<char>('a' + i % 26);
    REQUIRE(::write(fd, &byte, 1) == 1);
    CHECK(read_blocking(fd, 1) == std::string(1, byte));
    ::close(fd);
  }
  auto join = [&]() -> task<int> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == connections);
  // Per connection: one read and one write request; accepts added at most a handful in all (one
  // each where the kernel has no multishot accept).
  if (accepts_one_per_request(rt)) {
    CHECK(rt.metrics().ring_submissions - submissions_before >= 3 * connections);
  } else {
    CHECK(rt.metrics().ring_submissions - submissions_before < 2 * connections + 10);
  }
}

TEST_CASE("connections accepted before next() is awaited are queued, and closed when the stream goes") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  std::atomic<bool> armed{false};
  std::atomic<bool> release{false};
  auto server = [&]() -> task<std::string> {
    co_await coring::on(rt.cpu());
    auto incoming = listener.incoming();
    auto first = co_await incoming.next();  // arms the request
    REQUIRE(first);
    CHECK(rt.cpu().running_in_this_thread());
    armed = true;
    co_await coring_test::wait_until([&] { return release.load(); });
    auto second = co_await incoming.next();  // already queued
    REQUIRE(second);
    char buffer[8];
    auto n = co_await second->read(std::span<char>(buffer));
    REQUIRE(n);
    co_return std::string(buffer, *n);
    // `incoming` is destroyed here with the third connection still queued: it gets closed.
  };
  auto handle = coring::spawn(rt.io(), server());
  const int a = connect_blocking(port);
  coring_test::block_until([&] { return armed.load(); });
  const int b = connect_blocking(port);
  const int c = connect_blocking(port);
  REQUIRE(::write(b, "second", 6) == 6);
  std::this_thread::sleep_for(20ms);  // let the kernel accept both into the queue
  release = true;
  auto join = [&]() -> task<std::string> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == "second");
  char byte = 0;
  if (accepts_one_per_request(rt)) {
    // Nothing asked for the third connection: it still waits in the listener's backlog.
    auto accept_again = [&]() -> task<bool> {
      auto third = co_await listener.accept();
      co_return third.has_value();
    };
    CHECK(rt.block_on(accept_again()));  // accepted, then closed with the stream
  }
  // The queued third connection was closed by the stream's destructor: its peer reads end of file.
  CHECK(::read(c, &byte, 1) == 0);
  ::close(a);
  ::close(b);
  ::close(c);
}

TEST_CASE("a canceled next() gives operation_canceled and the stream keeps working") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  coring::net::incoming_connections incoming;
  auto waiter = [&]() -> task<std::error_code> {
    incoming = listener.incoming();
    auto stream = co_await incoming.next();
    co_return stream.error();
  };
  auto handle = coring::spawn(rt.io(), waiter());
  std::this_thread::sleep_for(10ms);
  handle.cancel();
  auto join = [&]() -> task<std::error_code> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == std::errc::operation_canceled);
  const int fd = connect_blocking(port);
  auto again = [&]() -> task<bool> {
    auto stream = co_await incoming.next();
    co_return static_cast<bool>(stream);
  };
  CHECK(rt.block_on(again()));
  ::close(fd);
  auto drop = [&]() -> task<void> {
    incoming = {};
    co_return;
  };
  rt.block_on(drop());
}

TEST_CASE("next() on an empty incoming_connections or receive_stream gives bad_file_descriptor") {
  runtime rt{small_runtime()};
  auto body = []() -> task<void> {
    coring::net::incoming_connections incoming;
    auto s = co_await incoming.next();
    CHECK(s.error() == std::errc::bad_file_descriptor);
    coring::receive_stream chunks;
    auto c = co_await chunks.next();
    CHECK(c.error() == std::errc::bad_file_descriptor);
  };
  rt.block_on(body());
}

TEST_CASE("a receive stream delivers every byte in order, then an empty chunk at the end") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr std::size_t total = 3 * 1024 * 1024;  // many times the loop's buffer ring
  std::string sent(total, '\0');
  for (std::size_t i = 0; i < total; ++i) sent[i] = static_cast<char>((i * 31 + i / 4093) % 251);
  auto server = [&](coring::executor where) -> task<std::string> {
    co_await coring::on(where);
    auto accepted = co_await listener.accept();
    REQUIRE(accepted);
    auto chunks = accepted->receive_chunks();
    std::string got;
    for (;;) {
      auto chunk = co_await chunks.next();
      REQUIRE(chunk);
      CHECK(where.running_in_this_thread());
      if (chunk->empty()) break;
      got.append(chunk->text());
    }
    auto after = co_await chunks.next();  // the end stays the end
    CHECK((after && after->empty()));
    co_return got;
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto handle = coring::spawn(rt.io(), server(where));
    std::thread client([&] {
      const int fd = connect_blocking(port);
      std::size_t done = 0;
      while (done < total) {
        const ssize_t n = ::write(fd, sent.data() + done, std::min<std::size_t>(total - done, 100'000));
        REQUIRE(n > 0);
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
    });
    auto join = [&]() -> task<std::string> { co_return co_await handle; };
    const std::string got = rt.block_on(join());
    client.join();
    CHECK(got.size() == total);
    CHECK(got == sent);
  }
}

TEST_CASE("a receive stream pauses while every buffer is held and resumes when they come back") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr std::size_t message = 4096;
  constexpr std::size_t count = 1500;  // three times what the loop's 512 buffers of 4 KiB hold
  int pauses = 0;
  auto server = [&]() -> task<std::size_t> {
    auto accepted = co_await listener.accept();
    REQUIRE(accepted);
    auto chunks = accepted->receive_chunks();
    std::vector<coring::received_chunk> held;
    std::size_t received = 0;
    // Hold chunks until the data stops arriving (the ring ran dry), then let them all go.
    while (received < message * count) {
      auto chunk = co_await coring::timeout(200ms, chunks.next());
      if (!chunk && chunk.error() == std::errc::timed_out) {
        REQUIRE(!held.empty());
        ++pauses;
        held.clear();  // every buffer back: the stream re-arms
        continue;
      }
      REQUIRE(chunk);
      REQUIRE(!chunk->empty());
      for (std::byte b : chunk->bytes()) CHECK(b == std::byte{'m'});
      received += chunk->size();
      held.push_back(std::move(*chunk));
    }
    co_return received;
  };
  auto handle = coring::spawn(rt.io(), server());
  std::thread client([&] {
    const int fd = connect_blocking(port);
    const std::string payload(message, 'm');
    for (std::size_t i = 0; i < count; ++i) REQUIRE(::write(fd, payload.data(), message) == ssize_t(message));
    char byte;
    (void)::read(fd, &byte, 1);  // until the server closes
    ::close(fd);
  });
  auto join = [&]() -> task<std::size_t> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == message * count);
  CHECK(pauses > 0);
  client.join();
}

TEST_CASE("chunks released on another thread return their buffers to the loop") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr std::size_t total = 4 * 1024 * 1024;
  coring::async_event drained;
  auto server = [&]() -> task<std::size_t> {
    auto accepted = co_await listener.accept();
    REQUIRE(accepted);
    auto chunks = accepted->receive_chunks();
    std::size_t received = 0;
    for (;;) {
      auto chunk = co_await chunks.next();
      REQUIRE(chunk);
      if (chunk->empty()) break;
      received += chunk->size();
      // Hand the chunk to a CPU-pool task, which drops it there.
      auto consume = [](coring::received_chunk c) -> task<void> {
        c.release();
        co_return;
      };
      coring::spawn(rt.cpu(), consume(std::move(*chunk))).detach();
    }
    co_return received;
  };
  auto handle = coring::spawn(rt.io(), server());
  std::thread client([&] {
    const int fd = connect_blocking(port);
    const std::string payload(65536, 'z');
    for (std::size_t done = 0; done < total; done += payload.size())
      REQUIRE(::write(fd, payload.data(), payload.size()) == ssize_t(payload.size()));
    ::close(fd);
  });
  auto join = [&]() -> task<std::size_t> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == total);
  client.join();
}

TEST_CASE("shutdown with a multishot accept and receive armed frees them without leaks") {
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  std::atomic<int> waiting{0};
  int client = -1;
  {
    runtime rt{small_runtime()};
    auto acceptor = [&]() -> task<void> {
      auto incoming = listener.incoming();
      auto first = co_await incoming.next();
      REQUIRE(first);
      auto chunks = first->receive_chunks();
      ++waiting;
      auto never = co_await chunks.next();  // destroyed by shutdown while armed
      (void)never;
    };
    coring::spawn(rt.cpu(), acceptor()).detach();
    client = connect_blocking(port);
    coring_test::block_until([&] { return waiting.load() == 1; });
  }
  CHECK(waiting.load() == 1);
  ::close(client);
}

TEST_CASE("a zero-copy write delivers its bytes and ends after the kernel released the buffer") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr std::size_t total = 1024 * 1024;
  std::string received;
  std::thread client([&] {
    const int fd = connect_blocking(port);
    received = read_blocking(fd, total);
    ::close(fd);
  });
  auto server = [&](coring::executor where) -> task<std::size_t> {
    co_await coring::on(where);
    auto accepted = co_await listener.accept();
    REQUIRE(accepted);
    std::vector<std::byte> data(total);  // freed right after the last write returns
    for (std::size_t i = 0; i < total; ++i) data[i] = std::byte(i % 241);
    std::size_t done = 0;
    while (done < total) {
      auto n = co_await accepted->write_zero_copy(std::span(data).subspan(done));
      REQUIRE(n);
      CHECK(where.running_in_this_thread());
      done += *n;
    }
    co_return done;
  };
  CHECK(rt.block_on(server(rt.cpu())) == total);
  client.join();
  REQUIRE(received.size() == total);
  bool same = true;
  for (std::size_t i = 0; i < total; ++i) same = same && received[i] == static_cast<char>(i % 241);
  CHECK(same);
}

TEST_CASE("a zero-copy write to a closed stream gives bad_file_descriptor") {
  runtime rt{small_runtime()};
  auto body = []() -> task<std::error_code> {
    tcp_stream closed;
    const std::byte b{1};
    auto n = co_await closed.write_zero_copy(std::span(&b, 1));
    co_return n.error();
  };
  CHECK(rt.block_on(body()) == std::errc::bad_file_descriptor);
}

TEST_CASE("a stream registered in the ring reads, writes and receives through its slot, from either pool") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  auto server = [&](coring::executor where) -> task<std::string> {
    co_await coring::on(where);
    auto accepted = co_await listener.accept();
    REQUIRE(accepted);
    auto registered = co_await accepted->register_in_ring();
    REQUIRE(registered);
    CHECK(accepted->is_registered());
    CHECK(where.running_in_this_thread());
    char buffer[5];
    REQUIRE(co_await accepted->read_exact(std::as_writable_bytes(std::span(buffer))));
    CHECK(where.running_in_this_thread());
    std::string got(buffer, 5);
    auto chunks = accepted->receive_chunks();
    auto chunk = co_await chunks.next();
    REQUIRE(chunk);
    got += chunk->text();
    const std::string reply = "ok:" + got;
    REQUIRE(co_await accepted->write_all(std::as_bytes(std::span(reply))));
    co_return got;
  };
  for (coring::executor where : {rt.io(), rt.cpu()}) {
    auto handle = coring::spawn(rt.io(), server(where));
    const int fd = connect_blocking(port);
    REQUIRE(::write(fd, "hello", 5) == 5);
    std::this_thread::sleep_for(5ms);
    REQUIRE(::write(fd, "world", 5) == 5);
    auto join = [&]() -> task<std::string> { co_return co_await handle; };
    CHECK(rt.block_on(join()) == "helloworld");
    CHECK(read_blocking(fd, 13) == "ok:helloworld");
    // The stream was destroyed with its slot released: the connection really closed.
    char byte;
    CHECK(::read(fd, &byte, 1) == 0);
    ::close(fd);
  }
}

TEST_CASE("registering many streams reuses the slots that closed streams gave back") {
  runtime rt{small_runtime()};
  tcp_listener listener = listen_any();
  const std::uint16_t port = port_of(listener);
  constexpr int rounds = 300;
  auto server = [&]() -> task<int> {
    auto incoming = listener.incoming();
    int registered = 0;
    for (int i = 0; i < rounds; ++i) {
      auto stream = co_await incoming.next();
      REQUIRE(stream);
      if (co_await stream->register_in_ring()) ++registered;
      const char byte = 'r';
      REQUIRE(co_await stream->write(std::span(&byte, 1)));
      auto again = co_await stream->register_in_ring();  // a second call is a no-op
      CHECK(again);
    }
    co_return registered;
  };
  auto handle = coring::spawn(rt.io(), server());
  for (int i = 0; i < rounds; ++i) {
    const int fd = connect_blocking(port);
    CHECK(read_blocking(fd, 1) == "r");
    char byte;
    CHECK(::read(fd, &byte, 1) == 0);  // closed, slot and all
    ::close(fd);
  }
  auto join = [&]() -> task<int> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == rounds);
}

TEST_CASE("registering a closed stream gives bad_file_descriptor") {
  runtime rt{small_runtime()};
  auto body = []() -> task<std::error_code> {
    tcp_stream closed;
    auto r = co_await closed.register_in_ring();
    CHECK(!closed.is_registered());
    co_return r.error();
  };
  CHECK(rt.block_on(body()) == std::errc::bad_file_descriptor);
}

TEST_CASE("receive buffers follow runtime_options; a count that is not a power of two is refused") {
  CHECK_THROWS_AS((runtime{{.io_threads = 1, .cpu_threads = 1, .receive_buffers = 100}}),
                  std::invalid_argument);
  for (unsigned count : {8u}) {
    runtime rt{{.io_threads = 1, .cpu_threads = 1, .receive_buffers = count, .receive_buffer_size = 64}};
    tcp_listener listener = listen_any();
    const std::uint16_t port = port_of(listener);
    auto server = [&]() -> task<coring::result<std::size_t>> {
      auto accepted = co_await listener.accept();
      REQUIRE(accepted);
      auto chunks = accepted->receive_chunks();
      std::size_t total = 0;
      for (;;) {
        auto chunk = co_await chunks.next();
        if (!chunk) co_return chunk.error();
        if (chunk->empty()) co_return total;
        CHECK(chunk->size() <= 64);
        total += chunk->size();
      }
    };
    auto handle = coring::spawn(rt.io(), server());
    const int fd = connect_blocking(port);
    const std::string payload(10'000, 'b');
    REQUIRE(::write(fd, payload.data(), payload.size()) == ssize_t(payload.size()));
    ::shutdown(fd, SHUT_WR);
    auto join = [&]() -> task<coring::result<std::size_t>> { co_return co_await handle; };
    const coring::result<std::size_t> got = rt.block_on(join());
    REQUIRE(got);
    CHECK(*got == payload.size());
    ::close(fd);
  }
}
