// SPDX-License-Identifier: MIT
// loopback_clients HOST PORT COUNT: opens COUNT TCP connections to HOST:PORT (an IPv4 address),
// waits until every one is connected, then sends on each a message naming its index and checks
// that the same bytes come back. It keeps every connection open until all echoes came back, so the
// server sees all COUNT connections at once. Exit status 0 only if all COUNT echoes were right;
// otherwise a one-line summary on stderr and status 1 (2 for bad arguments).
//
// Plain POSIX sockets and epoll, no coring: the peer of coring's many-connections test, run as a
// separate process because server and client sockets together exceed one process's fd limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct connection {
  int fd = -1;
  std::string message;
  std::string received;
  bool connected = false;
  bool echoed = false;
};

struct tally {
  std::size_t count = 0;
  std::size_t connected = 0;
  std::size_t echoed = 0;
  std::size_t wrong = 0;
};

int fail(const tally& t, const std::string& what) {
  std::fprintf(stderr, "loopback_clients: %s (connected %zu/%zu, echoed %zu/%zu, wrong %zu)\n", what.c_str(),
               t.connected, t.count, t.echoed, t.count, t.wrong);
  return 1;
}

std::string errno_text(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

constexpr std::size_t connect_window = 512;  // connections being set up at once (spares the backlog)
constexpr int idle_timeout_ms = 30000;       // no progress for this long: give up

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s HOST PORT COUNT\n", argv[0]);
    return 2;
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) {
    std::fprintf(stderr, "loopback_clients: bad IPv4 address '%s'\n", argv[1]);
    return 2;
  }
  tally t;
  t.count = static_cast<std::size_t>(std::strtoul(argv[3], nullptr, 10));
  raise_fd_limit();

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail(t, errno_text("epoll_create1"));
  std::vector<connection> conns(t.count);
  std::vector<epoll_event> events(1024);

  // 1. Connect all, at most connect_window in progress at a time.
  std::size_t started = 0;
  std::size_t in_progress = 0;
  while (t.connected < t.count) {
    while (in_progress < connect_window && started < t.count) {
      connection& c = conns[started];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) return fail(t, errno_text("socket"));
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = started;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(t, errno_text("epoll_ctl"));
      ++started;
      ++in_progress;
      if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
          errno != EINPROGRESS) {
        return fail(t, errno_text("connect"));
      }
    }
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), idle_timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(t, errno_text("epoll_wait"));
    if (n == 0) return fail(t, "timed out connecting");
    for (int i = 0; i < n; ++i) {
      connection& c = conns[events[i].data.u64];
      if (c.connected) continue;
      int error = 0;
      socklen_t len = sizeof error;
      if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
        return fail(t, errno_text("getsockopt"));
      if (error != 0) return fail(t, std::string("connect: ") + std::strerror(error));
      c.connected = true;
      ++t.connected;
      --in_progress;
      epoll_event none{};
      none.data.u64 = events[i].data.u64;
      if (::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &none) != 0) return fail(t, errno_text("epoll_ctl"));
    }
  }

  // 2. Every connection is up: send each its message (a few bytes into an empty socket buffer).
  for (std::size_t i = 0; i < t.count; ++i) {
    connection& c = conns[i];
    c.message = "connection " + std::to_string(i) + " says hello\n";
    const ssize_t sent = ::send(c.fd, c.message.data(), c.message.size(), MSG_NOSIGNAL);
    if (sent != static_cast<ssize_t>(c.message.size())) return fail(t, errno_text("send"));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev) != 0) return fail(t, errno_text("epoll_ctl"));
  }

  // 3. Collect the echoes, holding every connection open.
  while (t.echoed + t.wrong < t.count) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), idle_timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(t, errno_text("epoll_wait"));
    if (n == 0) return fail(t, "timed out waiting for echoes");
    for (int i = 0; i < n; ++i) {
      connection& c = conns[events[i].data.u64];
      char buffer[128];
      const ssize_t got = ::recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got < 0) return fail(t, errno_text("recv"));
      if (got == 0) return fail(t, "the server closed connection " + std::to_string(events[i].data.u64));
      c.received.append(buffer, static_cast<std::size_t>(got));
      if (c.received.size() >= c.message.size()) {
        if (c.received == c.message) {
          ++t.echoed;
        } else {
          ++t.wrong;
        }
        epoll_event none{};
        none.data.u64 = events[i].data.u64;
        if (::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &none) != 0) return fail(t, errno_text("epoll_ctl"));
      }
    }
  }
  if (t.wrong != 0) return fail(t, "some echoes differ from what was sent");

  // 4. Close with a reset (linger 0): repeated runs leave no TIME_WAIT sockets behind.
  for (connection& c : conns) {
    linger reset{};
    reset.l_onoff = 1;
    reset.l_linger = 0;
    (void)::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c.fd);
  }
  ::close(ep);
  return 0;
}
