// SPDX-License-Identifier: MIT
// What examples/epoll_host.cpp and examples/glib_host.cpp share: a coring TCP echo served on an
// embedded event_loop, and a blocking client that checks it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

namespace host_echo {

inline coring::result<coring::net::tcp_listener> listen() {
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::parse("127.0.0.1:0").value());
  if (!listener) std::fprintf(stderr, "host_echo: bind: %s\n", listener.error().message().c_str());
  return listener;
}

inline coring::task<void> echo(coring::net::tcp_stream s) {
  std::array<char, 4096> buf;
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span<const char>(buf.data(), *n))) co_return;
  }
}

/// Accepts until canceled; each connection is a task on the same (embedded) loop.
inline coring::task<void> serve(coring::net::tcp_listener listener) {
  for (;;) {
    auto s = co_await listener.accept();
    if (!s) co_return;  // canceled
    coring::spawn_detached(co_await coring::this_executor(), echo(std::move(*s)));
  }
}

/// A plain blocking client: 3 connections, 100 messages each, every byte must come back.
inline bool run_client(std::uint16_t port) {
  for (int c = 0; c < 3; ++c) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      std::fprintf(stderr, "host_echo: connect: %s\n", std::strerror(errno));
      ::close(fd);
      return false;
    }
    for (int i = 0; i < 100; ++i) {
      const std::string message = "message " + std::to_string(c) + "/" + std::to_string(i);
      if (::send(fd, message.data(), message.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(message.size())) {
        ::close(fd);
        return false;
      }
      std::string back(message.size(), '\0');
      std::size_t got = 0;
      while (got < back.size()) {
        const ssize_t n = ::recv(fd, back.data() + got, back.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(fd);
          return false;
        }
        got += static_cast<std::size_t>(n);
      }
      if (back != message) {
        std::fprintf(stderr, "host_echo: sent \"%s\", got \"%s\"\n", message.c_str(), back.c_str());
        ::close(fd);
        return false;
      }
    }
    ::close(fd);
  }
  std::printf("host_echo: 300 messages echoed through the embedded loop\n");
  return true;
}

}  // namespace host_echo
