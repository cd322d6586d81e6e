// SPDX-License-Identifier: MIT
// asio_adopt: an existing Asio TCP service that adopts coring one handler at a time.
//
// The service is plain Asio: an acceptor and one asio::awaitable session per connection, all on
// the application's own io_context and thread. It answers two line commands:
//   ping          -> "pong"                      (still the original Asio code)
//   info PATH     -> "bytes=N host=ADDRESS"      (rewritten as a coring task)
// The `info` handler is now a coring task: it reads the file through coring's io_uring loop
// (coring::fs::read_file), resolves "localhost" with Asio's own resolver awaited through
// coring::use_task, and the Asio session awaits that task with coring::async_run(...,
// asio::use_awaitable). Nothing else in the service changed.
//
//   build/release/examples/asio_adopt            serves on 127.0.0.1:PORT (printed) until Ctrl-C
//   build/release/examples/asio_adopt --self-test serves, talks to itself, exits 0 when both
//                                                 commands answered right (run by CTest)
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <coring/asio/async_run.hpp>
#include <coring/asio/use_task.hpp>
#include <coring/coring.hpp>
#include <coring/fs.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

using asio::ip::tcp;

namespace {

// ---- the handler rewritten as a coring task ------------------------------------------------

coring::task<std::string> describe(asio::any_io_executor asio_executor, std::string path) {
  // Asio's resolver, awaited inside a coring task: the task resumes on coring's pool.
  tcp::resolver resolver(asio_executor);
  auto found = co_await resolver.async_resolve("localhost", "0", coring::use_task);
  if (!found || found->empty()) co_return "error resolving localhost: " + found.error().message();
  const std::string host = found->begin()->endpoint().address().to_string();

  // The file, read through coring's ring.
  auto contents = co_await coring::fs::read_file(path);
  if (!contents) co_return "error reading " + path + ": " + contents.error().message();
  co_return "bytes=" + std::to_string(contents->size()) + " host=" + host;
}

// ---- the existing Asio service ---------------------------------------------------------------

asio::awaitable<void> session(tcp::socket socket, coring::runtime& rt) {
  asio::streambuf input;
  for (;;) {
    auto [error, n] = co_await asio::async_read_until(socket, input, '\n',
                                                      asio::experimental::as_tuple(asio::use_awaitable));
    if (error) co_return;  // the client went away
    std::string line(asio::buffers_begin(input.data()), asio::buffers_begin(input.data()) + n - 1);
    input.consume(n);

    std::string reply;
    if (line == "ping") {
      reply = "pong";
    } else if (line.starts_with("info ")) {
      // The one handler that moved to coring: awaited from the Asio coroutine, which resumes here,
      // on its own io_context.
      reply = co_await coring::async_run(rt.io(), describe(socket.get_executor(), line.substr(5)),
                                         asio::use_awaitable);
    } else {
      reply = "unknown command";
    }
    reply += '\n';
    co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
  }
}

asio::awaitable<void> serve(tcp::acceptor& acceptor, coring::runtime& rt) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), rt), asio::detached);
  }
}

// ---- --self-test: a plain blocking client ----------------------------------------------------

std::string ask(tcp::socket& socket, asio::streambuf& input, const std::string& line) {
  asio::write(socket, asio::buffer(line + "\n"));
  const std::size_t n = asio::read_until(socket, input, '\n');
  std::string reply(asio::buffers_begin(input.data()), asio::buffers_begin(input.data()) + n - 1);
  input.consume(n);
  return reply;
}

int self_test(unsigned short port, const std::string& path) {
  asio::io_context client_context;
  tcp::socket socket(client_context);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
  asio::streambuf input;
  const std::string pong = ask(socket, input, "ping");
  const std::string info = ask(socket, input, "info " + path);
  const std::string expected = "bytes=" + std::to_string(std::filesystem::file_size(path)) + " host=";
  const bool info_ok = info == expected + "127.0.0.1" || info == expected + "::1";  // localhost, either way
  const std::string missing = ask(socket, input, "info /nonexistent/file");
  std::cout << "ping -> " << pong << "\ninfo -> " << info << "\nmissing -> " << missing << "\n";
  const bool ok = pong == "pong" && info_ok && missing.starts_with("error reading /nonexistent/file");
  if (!ok) std::cerr << "asio_adopt: expected \"pong\" and \"" << expected << "<localhost's address>\"\n";
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool testing = argc > 1 && std::string_view(argv[1]) == "--self-test";
  try {
    // The io_context is declared first so it outlives the runtime: a coring task that completes an
    // Asio handler holds the context's work count until the handler is queued there.
    asio::io_context context;
    coring::runtime rt;  // coring's pools, next to the application's io_context
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    const unsigned short port = acceptor.local_endpoint().port();
    asio::co_spawn(context, serve(acceptor, rt), asio::detached);

    if (!testing) {
      std::cout << "asio_adopt: serving on 127.0.0.1:" << port
                << " (try: printf 'info /etc/hostname\\n' | nc 127.0.0.1 " << port << ")\n";
      context.run();
      return 0;
    }
    std::thread service([&] { context.run(); });
    int code = 1;
    try {
      code = self_test(port, argv[0]);
    } catch (const std::exception& e) {
      std::cerr << "asio_adopt: self-test: " << e.what() << "\n";
    }
    asio::post(context, [&] { acceptor.close(); });
    context.stop();
    service.join();
    return code;
  } catch (const std::exception& e) {
    std::cerr << "asio_adopt: " << e.what() << "\n";
    return 1;
  }
}
