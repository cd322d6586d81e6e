// SPDX-License-Identifier: MIT
// Tests for what a server's listener does for it: listen_options::no_delay (TCP_NODELAY on every
// accepted socket) and serving on after a transient accept error (EMFILE: the descriptor table is
// full), with accept() and with incoming(), on the io pool and the CPU pool.
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

namespace {

using coring::runtime;
using coring::task;
using coring::net::endpoint;
using coring::net::listen_options;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

constexpr auto limit = std::chrono::seconds(20);  // every wait of these tests ends

std::uint16_t port_of(const tcp_listener& listener) {
  auto local = listener.local_endpoint();
  REQUIRE(local);
  return local->port();
}

int new_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval timeout{20, 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
  return fd;
}

void connect_socket(int fd, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
}

int nodelay_of(const tcp_stream& s) {
  int value = -1;
  socklen_t length = sizeof value;
  REQUIRE(::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &value, &length) == 0);
  return value;
}

/// Fills this process's descriptor table: lowers the soft RLIMIT_NOFILE to just above the highest
/// descriptor in use and takes every free one below it. The destructor gives both back.
class full_descriptor_table {
 public:
  full_descriptor_table() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest_open() + 1);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    for (;;) {
      const int fd = ::dup(STDERR_FILENO);
      if (fd < 0) {
        REQUIRE(errno == EMFILE);
        break;
      }
      taken_.push_back(fd);
    }
  }
  ~full_descriptor_table() { release(); }
  full_descriptor_table(const full_descriptor_table&) = delete;
  full_descriptor_table& operator=(const full_descriptor_table&) = delete;

  void release() {
    for (int fd : taken_) ::close(fd);
    taken_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  static int highest_open() {
    int highest = 2;
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    const int own = ::dirfd(dir);
    while (dirent* entry = ::readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (fd != own && fd > highest) highest = fd;
    }
    ::closedir(dir);
    return highest;
  }

  rlimit saved_{};
  std::vector<int> taken_;
};

/// Waits (bounded) until `flag` is set by a task.
bool wait_for(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return flag.load();
}

enum class accept_with { accept, incoming };

/// One client arrives while the table is full: its accept fails with EMFILE; once descriptors
/// are free again, the listener accepts the same client. Returns the byte the server read.
void emfile_then_serve(bool on_cpu, accept_with how) {
  tcp_listener listener = tcp_listener::bind(endpoint::loopback_v4(0)).value();
  const std::uint16_t port = port_of(listener);
  std::atomic<bool> failed{false};
  std::atomic<bool> may_retry{false};
  std::error_code first_error;
  runtime rt{coring_test::small_runtime()};  // after what its tasks use: destroyed first
  const coring::executor where = on_cpu ? rt.cpu() : rt.io();
  auto server = [&]() -> task<char> {
    co_await coring::on(where);
    auto incoming = listener.incoming();
    auto next = [&](bool bounded) -> task<coring::result<tcp_stream>> {
      if (how == accept_with::accept) {
        if (bounded) co_return co_await coring::timeout(limit, listener.accept());
        co_return co_await listener.accept();
      }
      if (bounded) co_return co_await coring::timeout(limit, incoming.next());
      co_return co_await incoming.next();
    };
    // Unbounded while the table is full (timeout() compares error codes, and UBSan's check of
    // that virtual call needs a descriptor); if it never fails, the test's wait_for() gives up
    // and the runtime's shutdown ends this task.
    auto s = co_await next(false);
    REQUIRE_FALSE(s);
    first_error = s.error();
    failed = true;
    // What a server does (examples/echo_server.cpp): wait a little, then accept again.
    while (!may_retry.load()) (void)co_await coring::sleep_for(std::chrono::milliseconds(1));
    s = co_await next(true);
    REQUIRE(s);
    CHECK(where.running_in_this_thread());
    char byte = 0;
    auto n = co_await coring::timeout(limit, s->read(std::span<char>(&byte, 1)));
    REQUIRE(n);
    CHECK(*n == 1);
    (void)co_await s->write(std::span<const char>(&byte, 1));
    co_return byte;
  };
  const int client = new_socket();  // made before the table fills: it needs a descriptor
  coring::join_handle<char> handle;
  {
    // Filled before the server asks: the ring reads RLIMIT_NOFILE when it prepares the accept.
    full_descriptor_table full;
    handle = coring::spawn(rt.io(), server());
    connect_socket(client, port);  // completes in the kernel's backlog; accepting it needs a descriptor
    REQUIRE(wait_for(failed));
    full.release();
  }
  // Compared only now: UBSan's vptr check needs a free descriptor (it probes memory with a pipe).
  CHECK(first_error == std::errc::too_many_files_open);
  may_retry = true;
  const char byte = 'x';
  REQUIRE(::write(client, &byte, 1) == 1);
  char back = 0;
  ssize_t n;
  do {
    n = ::read(client, &back, 1);
  } while (n < 0 && errno == EINTR);
  const int error = n < 0 ? errno : 0;
  CHECK_MESSAGE(n == 1, "the client's read gave " << n << ", errno " << error);
  CHECK(back == 'x');
  CHECK(rt.block_on(std::move(handle)) == 'x');
  ::close(client);
}

}  // namespace

TEST_CASE("listen_options::no_delay puts TCP_NODELAY on sockets from accept() and from incoming()") {
  for (const bool no_delay : {false, true}) {
    tcp_listener listener =
        tcp_listener::bind(endpoint::loopback_v4(0), listen_options{.no_delay = no_delay}).value();
    const std::uint16_t port = port_of(listener);
    runtime rt{coring_test::small_runtime()};  // after the listener its tasks use: destroyed first
    auto server = [&]() -> task<void> {
      auto one = co_await coring::timeout(limit, listener.accept());
      REQUIRE(one);
      CHECK(nodelay_of(*one) == (no_delay ? 1 : 0));
      co_await coring::on(rt.cpu());
      auto incoming = listener.incoming();
      auto two = co_await coring::timeout(limit, incoming.next());
      REQUIRE(two);
      CHECK(nodelay_of(*two) == (no_delay ? 1 : 0));
    };
    auto handle = coring::spawn(rt.io(), server());
    const int first = new_socket();
    const int second = new_socket();
    connect_socket(first, port);
    connect_socket(second, port);
    rt.block_on(std::move(handle));
    ::close(first);
    ::close(second);
  }
}

TEST_CASE("after an accept() that failed with EMFILE the next accept() serves the waiting client") {
  SUBCASE("on the io pool") {
    emfile_then_serve(false, accept_with::accept);
  }
  SUBCASE("on the CPU pool") {
    emfile_then_serve(true, accept_with::accept);
  }
}

TEST_CASE("after incoming().next() failed with EMFILE the next next() serves the waiting client") {
  SUBCASE("on the io pool") {
    emfile_then_serve(false, accept_with::incoming);
  }
  SUBCASE("on the CPU pool") {
    emfile_then_serve(true, accept_with::incoming);
  }
}
