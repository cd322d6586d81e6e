// SPDX-License-Identifier: MIT
// raw_epoll_http PORT: the HTTP plaintext benchmark (see http_plaintext.hpp) on a hand-written
// epoll loop. One thread, nonblocking sockets, edge-triggered. No library beyond libc.
//
// Every socket (the listener included) is registered once, edge-triggered, for input and output:
// no epoll_ctl after that. A readable connection is read until a short read (the edge rule: a read
// that did not fill the buffer drained the socket, new data will raise a new edge), every complete
// request is answered into the connection's output buffer, and that buffer is written with one
// write(). What the socket does not take stays buffered until EPOLLOUT says there is room again.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http_plaintext.hpp"

namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

struct connection {
  int fd = -1;
  std::string pending;  // an incomplete request
  std::string out;      // responses not yet taken by the socket
  std::size_t out_sent = 0;
};

int listen_on(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(fd, 1024) != 0) die("listen");
  return fd;
}

/// Writes as much of c.out as the socket takes. False: the connection failed.
bool flush(connection& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;  // EPOLLOUT (edge-triggered) comes when there is room again
    }
    c.out_sent += static_cast<std::size_t>(n);
  }
  c.out.clear();
  c.out_sent = 0;
  return true;
}

/// Reads until the socket is drained and answers what arrived. False: close the connection.
bool on_readable(connection& c, std::array<char, 64 * 1024>& buffer) {
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return false;
    }
    if (n == 0) return false;  // the peer closed
    if (!http_plaintext::feed(c.pending, {buffer.data(), static_cast<std::size_t>(n)}, c.out)) return false;
    if (static_cast<std::size_t>(n) < buffer.size()) break;  // short read: drained
  }
  return flush(c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const int listener = listen_on(static_cast<unsigned short>(std::atoi(argv[1])));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  // data.ptr: the connection, or nullptr for the listener.
  epoll_event listen_event{};
  listen_event.events = EPOLLIN | EPOLLET;
  listen_event.data.ptr = nullptr;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &listen_event) != 0) die("epoll_ctl");

  std::array<epoll_event, 256> events{};
  auto buffer = std::make_unique<std::array<char, 64 * 1024>>();
  std::fprintf(stderr, "raw_epoll_http: listening on 127.0.0.1:%s\n", argv[1]);

  for (;;) {
    const int ready = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      auto* c = static_cast<connection*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c == nullptr) {  // the listener: accept everything that is waiting
        for (;;) {
          const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) std::perror("accept4");
            break;
          }
          auto* conn = new connection;
          conn->fd = fd;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          ev.data.ptr = conn;
          if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
        }
        continue;
      }
      const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
      bool keep = (what & (EPOLLERR | EPOLLHUP)) == 0;
      if (keep && (what & (EPOLLIN | EPOLLRDHUP)) != 0) keep = on_readable(*c, *buffer);
      if (keep && (what & EPOLLOUT) != 0 && !c->out.empty()) keep = flush(*c);
      if (!keep) {
        ::close(c->fd);  // also removes it from the epoll set
        delete c;
      }
    }
  }
}
