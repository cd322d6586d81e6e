// SPDX-License-Identifier: MIT
// echo_server: the README's accept-then-spawn TCP echo server, using every io thread.
//
// One task accepts (listener.incoming(), one multishot accept) and spawns a task per connection
// with rt.io_balanced(), which puts each on the least loaded io loop: with rt.io() they would all
// stay on the accepting loop (see spawn.hpp). A transient accept error (EMFILE/ENFILE: the
// descriptor table is full; ENOMEM/ENOBUFS; ECONNABORTED: the client gave up first) ends only that
// accept: the server waits a little and accepts again. Accepted sockets get TCP_NODELAY.
//
//   echo_server [--port N] [--io-threads N] [--connections N]
//
// Prints "listening on 127.0.0.1:PORT" once it accepts (port 0, the default, picks a free one).
// With --connections N it stops once N connections have been served and closed, and prints how
// many each io thread served. Without it, it runs until killed.
#include <array>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>

namespace {

using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

/// Which io thread served how many connections.
struct tally {
  std::mutex mutex;
  std::map<std::thread::id, int> served;
  void count() {
    std::lock_guard lock(mutex);
    ++served[std::this_thread::get_id()];
  }
};

coring::task<void> echo(tcp_stream s, tally& threads, coring::async_latch& done) {
  threads.count();
  std::array<std::byte, 4096> buf;  // in the frame: alive until every read/write returns
  for (;;) {
    auto n = co_await s.read(buf);                                // result<std::size_t>
    if (!n || *n == 0) break;                                     // error, or the peer closed its side
    if (!co_await s.write_all(std::span(buf.data(), *n))) break;  // e.g. errc::connection_reset
  }
  done.count_down();
}

/// Errors that end one accept, not the server.
bool transient(std::error_code e) {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::not_enough_memory || e == std::errc::no_buffer_space ||
         e == std::errc::connection_aborted;
}

coring::task<void> serve(tcp_listener& listener, coring::executor connections, long limit, tally& threads) {
  coring::async_latch done{limit > 0 ? limit : 1};
  auto incoming = listener.incoming();  // one multishot accept
  for (long accepted = 0; limit <= 0 || accepted < limit;) {
    auto s = co_await incoming.next();  // result<tcp_stream>
    if (!s) {
      if (!transient(s.error())) break;  // canceled, or the listener failed
      std::fprintf(stderr, "echo_server: accept: %s; retrying\n", s.error().message().c_str());
      (void)co_await coring::sleep_for(std::chrono::milliseconds(10));  // let descriptors free up
      continue;
    }
    coring::spawn_detached(connections, echo(std::move(*s), threads, done));  // the least loaded loop
    ++accepted;
  }
  if (limit > 0) co_await done.wait();  // every connection served and closed
}

long option(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const long port = option(argc, argv, "--port", 0);
  const long io_threads = option(argc, argv, "--io-threads", 2);
  const long connections = option(argc, argv, "--connections", 0);
  if (port < 0 || port > 65535 || io_threads < 1 || connections < 0) {
    std::fprintf(stderr, "usage: echo_server [--port N] [--io-threads N] [--connections N]\n");
    return 2;
  }
  coring::runtime rt{{.io_threads = static_cast<unsigned>(io_threads), .cpu_threads = 1}};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(static_cast<std::uint16_t>(port)),
                                     coring::net::listen_options{.no_delay = true});
  if (!listener) {
    std::fprintf(stderr, "echo_server: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  std::printf("listening on %s\n", listener->local_endpoint().value().to_string().c_str());
  std::fflush(stdout);
  tally threads;
  rt.block_on(serve(*listener, rt.io_balanced(), connections, threads));
  std::printf("served %ld connections on %zu io threads:", connections, threads.served.size());
  for (const auto& [id, count] : threads.served) std::printf(" %d", count);
  std::printf("\n");
}
