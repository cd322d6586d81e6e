// SPDX-License-Identifier: MIT
// asio_http PORT: the HTTP plaintext benchmark (see http_plaintext.hpp) on standalone Asio 1.22
// with C++20 coroutines, written the way the Asio examples do it: one io_context run by one
// thread, an acceptor coroutine, and one coroutine per connection (asio::co_spawn, awaitable,
// use_awaitable; errors, end of stream included, arrive as exceptions).
//
// Built twice (bench/CMakeLists.txt): asio_http_epoll with Asio's default reactor (epoll), and
// asio_http_uring with ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL, where Asio's io_uring backend does
// the socket I/O.
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "http_plaintext.hpp"

namespace {

using asio::ip::tcp;

asio::awaitable<void> serve(tcp::socket socket) {
  try {
    socket.set_option(tcp::no_delay(true));
    char buffer[4096];
    std::string pending;
    std::string out;
    for (;;) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(buffer), asio::use_awaitable);
      if (!http_plaintext::feed(pending, {buffer, n}, out)) break;
      if (!out.empty()) {
        co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);
        out.clear();
      }
    }
  } catch (const std::exception&) {
    // the peer closed the connection, or it failed: drop it
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor acceptor) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  try {
    asio::io_context context{1};  // one thread runs it
    const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
    tcp::acceptor acceptor{context, {asio::ip::make_address("127.0.0.1"), port}};
    asio::co_spawn(context, accept_loop(std::move(acceptor)), asio::detached);
#if defined(ASIO_HAS_IO_URING_AS_DEFAULT)
    std::fprintf(stderr, "asio_http (io_uring backend): listening on 127.0.0.1:%s\n", argv[1]);
#else
    std::fprintf(stderr, "asio_http (epoll backend): listening on 127.0.0.1:%s\n", argv[1]);
#endif
    context.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_http: %s\n", e.what());
    return 1;
  }
}
