// SPDX-License-Identifier: MIT
// epoll_host: a program with its own epoll_wait loop that embeds a coring event_loop.
//
// The host owns the thread and the loop; coring is one more descriptor in its epoll set
// (event_loop::native_handle()), and the host's timeout is bounded by event_loop::next_timeout().
// On the embedded loop, coring serves a TCP echo. The host also watches stdin (its "own work")
// and quits after a timer of its own. Idle, it sleeps in epoll_wait: no spinning.
//
//   build/release/examples/epoll_host              echo on 127.0.0.1:PORT (printed) for 30 s
//   build/release/examples/epoll_host --self-test  a client thread echoes through it; exit 0 if
//                                                  every byte came back (run by CTest)
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "host_echo.hpp"

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::string_view(argv[1]) == "--self-test";
  coring::event_loop loop;
  auto listener = host_echo::listen();
  if (!listener) return 1;
  const std::uint16_t port = listener->local_endpoint().value().port();
  auto server = loop.spawn(host_echo::serve(std::move(*listener)));

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop.native_handle();  // readable whenever coring has work for poll()
  ::epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);

  std::atomic<int> client_result{-1};
  std::thread client;
  if (self_test) {
    client = std::thread([&] { client_result = host_echo::run_client(port) ? 0 : 1; });
  } else {
    std::printf("epoll_host: echo on 127.0.0.1:%u for 30 s\n", port);
  }

  const auto quit_at =
      std::chrono::steady_clock::now() + (self_test ? std::chrono::seconds(20) : std::chrono::seconds(30));
  long iterations = 0;
  while (std::chrono::steady_clock::now() < quit_at && client_result.load() < 0) {
    // The host's own timeout (its quit timer), bounded by coring's next timer.
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(quit_at - std::chrono::steady_clock::now());
    if (auto coring_wait = loop.next_timeout()) {
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(*coring_wait));
    }
    epoll_event ready[4];
    (void)::epoll_wait(ep, ready, 4, static_cast<int>(std::max<long>(0, wait.count())));
    loop.poll();  // never blocks: runs what the descriptor announced, and due timers
    ++iterations;
  }
  server.cancel();
  while (!server.done()) loop.poll();
  ::close(ep);
  if (client.joinable()) client.join();
  std::printf("epoll_host: %ld host iterations\n", iterations);
  return self_test ? client_result.load() : 0;
}
