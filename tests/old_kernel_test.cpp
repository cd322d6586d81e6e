// SPDX-License-Identifier: MIT
// The io_uring backend on kernels older than this one, as the opcode probe sees them
// (testing::pretend_uring_lacks_opcodes_from): what is missing is emulated with older requests, and
// a kernel too old for coring sends the automatic choice to epoll. CTest also runs the multishot,
// listener, TCP and shutdown tests whole with --coring-old-kernel=5.15 (label old_kernel).
#include <doctest/doctest.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coring/coring.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coring::backend_kind;
using coring::runtime;
using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;
namespace testing = coring::detail::testing;

namespace {

/// For the test's scope the probe sees only the opcodes below `first_missing`.
class pretend_kernel {
 public:
  explicit pretend_kernel(unsigned first_missing) {
    testing::pretend_uring_lacks_opcodes_from(first_missing);
  }
  ~pretend_kernel() { testing::pretend_uring_lacks_opcodes_from(previous_); }
  pretend_kernel(const pretend_kernel&) = delete;
  pretend_kernel& operator=(const pretend_kernel&) = delete;

 private:
  // The suite's --coring-old-kernel run sets a kernel for the whole process: restore that one.
  unsigned previous_ = coring::detail::probe_uring_support().multishot_receive  ? 0
                       : coring::detail::probe_uring_support().multishot_accept ? IORING_OP_SEND_ZC
                                                                                : IORING_OP_MSG_RING;
};

constexpr unsigned linux_5_15 = IORING_OP_MSG_RING;  // the first opcode 5.15 lacks
constexpr unsigned linux_5_10 = IORING_OP_RENAMEAT;  // likewise for 5.10

coring::runtime_options uring_runtime() {
  return {.io_threads = 1, .cpu_threads = 1, .backend = backend_kind::io_uring};
}

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

}  // namespace

TEST_CASE("the probe of a 5.15 kernel finds io_uring usable and the 5.19 and 6.0 features missing") {
  const coring::detail::uring_support today = coring::detail::probe_uring_support();
  REQUIRE(today.error == 0);
  {
    pretend_kernel old(linux_5_15);
    const coring::detail::uring_support support = coring::detail::probe_uring_support();
    CHECK(support.error == 0);
    CHECK_FALSE(support.multishot_accept);
    CHECK_FALSE(support.buffer_rings);
    CHECK_FALSE(support.cancel_any);
    CHECK_FALSE(support.multishot_receive);
    CHECK_FALSE(support.zero_copy_send);
  }
  {
    pretend_kernel old(IORING_OP_SEND_ZC);
    const coring::detail::uring_support support = coring::detail::probe_uring_support();
    CHECK(support.multishot_accept);
    CHECK(support.buffer_rings);
    CHECK_FALSE(support.multishot_receive);
    CHECK_FALSE(support.zero_copy_send);
  }
}

TEST_CASE(
    "a kernel whose io_uring lacks an opcode coring needs runs automatic on epoll, and refuses io_uring") {
  pretend_kernel old(linux_5_10);
  const coring::detail::uring_support support = coring::detail::probe_uring_support();
  CHECK(support.error == EOPNOTSUPP);
  CHECK(support.why.find("IORING_OP_RENAMEAT") != std::string::npos);
  // Not what CORING_BACKEND says (the suite's epoll run sets it): the automatic choice itself.
  runtime rt{{.io_threads = 1,
              .cpu_threads = 1,
              .backend = backend_kind::automatic,
              .quiet_backend_fallback = true}};
  if (std::getenv("CORING_BACKEND") == nullptr) CHECK(rt.backend() == backend_kind::epoll);
  auto sleep = []() -> task<bool> { co_return (co_await coring::sleep_for(1ms)).has_value(); };
  CHECK(rt.block_on(sleep()));
  try {
    runtime refused{uring_runtime()};
    FAIL("backend_kind::io_uring made a runtime on a kernel that lacks IORING_OP_RENAMEAT");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::operation_not_supported);
    CHECK(std::string(e.what()).find("IORING_OP_RENAMEAT") != std::string::npos);
  }
}

TEST_CASE("on a 5.15 kernel incoming() asks for one connection per request and serves them all") {
  pretend_kernel old(linux_5_15);
  runtime rt{uring_runtime()};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const std::uint16_t port = listener->local_endpoint().value().port();
  constexpr int connections = 20;
  auto server = [&]() -> task<int> {
    auto incoming = listener->incoming();
    int served = 0;
    for (int i = 0; i < connections; ++i) {
      auto stream = co_await incoming.next();
      REQUIRE(stream);
      const char byte = 'k';
      REQUIRE(co_await stream->write(std::span(&byte, 1)));
      ++served;
    }
    co_return served;
  };
  // Read before the spawn: the server's first accept may be submitted before spawn() returns.
  const auto before = rt.metrics().ring_submissions;
  auto handle = coring::spawn(rt.io(), server());
  for (int i = 0; i < connections; ++i) {
    const int fd = connect_blocking(port);
    char byte = 0;
    CHECK(::read(fd, &byte, 1) == 1);
    CHECK(byte == 'k');
    ::close(fd);
  }
  auto join = [&]() -> task<int> { co_return co_await handle; };
  CHECK(rt.block_on(join()) == connections);
  // A write and an accept request per connection (the multishot of newer kernels: one accept in all).
  CHECK(rt.metrics().ring_submissions - before >= 2 * connections);
}

TEST_CASE(
    "on 5.15 and 5.19 kernels receive_chunks() delivers every byte, also with more streams than buffers") {
  for (unsigned kernel : {linux_5_15, static_cast<unsigned>(IORING_OP_SEND_ZC)}) {
    CAPTURE(kernel);
    pretend_kernel old(kernel);
    runtime rt{{.io_threads = 1,
                .cpu_threads = 1,
                .receive_buffers = 2,
                .receive_buffer_size = 16,
                .backend = backend_kind::io_uring}};
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(listener);
    const std::uint16_t port = listener->local_endpoint().value().port();
    constexpr int streams = 4;
    constexpr std::size_t per_stream = 1000;
    auto receive_all = [](tcp_stream stream) -> task<std::string> {
      auto chunks = stream.receive_chunks();
      std::string got;
      while (true) {
        auto chunk = co_await chunks.next();
        REQUIRE(chunk);
        if (chunk->empty()) break;
        got += chunk->text();
      }
      co_return got;
    };
    auto server = [&]() -> task<std::vector<std::string>> {
      std::vector<coring::join_handle<std::string>> receivers;
      for (int i = 0; i < streams; ++i) {
        auto accepted = co_await listener->accept();
        REQUIRE(accepted);
        receivers.push_back(coring::spawn(rt.io(), receive_all(std::move(*accepted))));
      }
      std::vector<std::string> all;
      for (auto& r : receivers) all.push_back(co_await r);
      co_return all;
    };
    auto handle = coring::spawn(rt.io(), server());
    std::vector<int> clients;
    for (int i = 0; i < streams; ++i) clients.push_back(connect_blocking(port));
    for (int i = 0; i < streams; ++i) {
      const std::string data(per_stream, static_cast<char>('a' + i));
      for (std::size_t sent = 0; sent < data.size(); sent += 100) {
        REQUIRE(::write(clients[i], data.data() + sent, 100) == 100);
      }
      ::shutdown(clients[i], SHUT_WR);
    }
    auto join = [&]() -> task<std::vector<std::string>> { co_return co_await handle; };
    const std::vector<std::string> got = rt.block_on(join());
    REQUIRE(got.size() == streams);
    for (int i = 0; i < streams; ++i) CHECK(got[i] == std::string(per_stream, static_cast<char>('a' + i)));
    for (int fd : clients) ::close(fd);
  }
}

TEST_CASE(
    "on a 5.15 kernel a zero-copy write is a plain send, and a stream registers in a slot coring picks") {
  pretend_kernel old(linux_5_15);
  runtime rt{uring_runtime()};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const std::uint16_t port = listener->local_endpoint().value().port();
  std::string received;
  std::thread client([&] {
    const int fd = connect_blocking(port);
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
  });
  auto server = [&]() -> task<bool> {
    auto accepted = co_await listener->accept();
    REQUIRE(accepted);
    auto registered = co_await accepted->register_in_ring();
    CHECK(accepted->is_registered());
    const std::string text(100000, 'z');
    std::size_t done = 0;
    while (done < text.size()) {
      auto n = co_await accepted->write_zero_copy(std::as_bytes(std::span(text)).subspan(done));
      REQUIRE(n);
      done += *n;
    }
    co_return registered.has_value();
  };
  CHECK(rt.block_on(server()));
  client.join();
  CHECK(received == std::string(100000, 'z'));
}

TEST_CASE(
    "on a 5.15 kernel shutdown cancels operations waiting in the kernel one by one, well before its "
    "timeout") {
  pretend_kernel old(linux_5_15);
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  const std::uint16_t port = listener->local_endpoint().value().port();
  const int client = connect_blocking(port);
  const auto started = std::chrono::steady_clock::now();
  {
    runtime rt{{.io_threads = 1,
                .cpu_threads = 1,
                .shutdown_timeout = std::chrono::seconds(20),
                .backend = backend_kind::io_uring}};
    auto accept = [&]() -> task<coring::result<tcp_stream>> { co_return co_await listener->accept(); };
    auto accepted = rt.block_on(accept());
    REQUIRE(accepted);
    auto reader = [](tcp_stream stream) -> task<void> {
      char byte = 0;
      (void)co_await stream.read(std::span(&byte, 1));  // never any data: only shutdown ends it
    };
    auto idle_incoming = [](tcp_listener& l) -> task<void> {
      auto incoming = l.incoming();
      (void)co_await incoming.next();
    };
    auto read_handle = coring::spawn(rt.io(), reader(std::move(*accepted)));
    auto accept_handle = coring::spawn(rt.io(), idle_incoming(*listener));
    std::this_thread::sleep_for(20ms);  // both requests reach the kernel
  }
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  ::close(client);
}
