// SPDX-License-Identifier: MIT
// asio_tls_fetch: a coring task that fetches a page over TLS with asio::ssl::stream (OpenSSL).
//
// Asio does the TLS; coring runs the task. Every Asio operation (connect, handshake, write, read)
// is awaited with coring::use_task, so the task resumes on coring's pool after each one, and
// coring::timeout bounds the whole exchange: when it expires, the pending Asio operation is
// canceled through its cancellation slot. The ssl::stream's io_context runs on a thread of its own.
//
//   build/release/examples/asio_tls_fetch HOST PORT [--ca CERT.pem] [--path /]
// prints the reply's status line and headers and exits 0 on a 2xx status. With --ca the server's
// certificate must be signed by CERT.pem (a self-signed test certificate is its own CA); without
// it the system's CA store is used. CTest runs it against `openssl s_server -www`
// (tests/tools/tls_fetch_test.sh).
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <coring/asio/use_task.hpp>
#include <coring/coring.hpp>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct options {
  std::string host;
  std::string port;
  std::string ca_file;
  std::string path = "/";
};

coring::result<void> fail(std::string_view what, std::error_code error) {
  std::cerr << "asio_tls_fetch: " << what << ": " << error.message() << "\n";
  return error;
}

/// Fetches `path` and prints the reply's head; the reply's status code, or an error.
coring::task<coring::result<int>> fetch(asio::any_io_executor io, asio::ssl::context& tls,
                                        const options& opt) {
  tcp::resolver resolver(io);
  auto found = co_await resolver.async_resolve(opt.host, opt.port, coring::use_task);
  if (!found) co_return fail("resolve", found.error()).error();

  asio::ssl::stream<tcp::socket> stream(io, tls);
  // SNI and host name verification, as a browser would.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), opt.host.c_str())) {
    co_return fail("SNI", std::make_error_code(std::errc::invalid_argument)).error();
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(opt.host));

  auto connected = co_await asio::async_connect(stream.lowest_layer(), *found, coring::use_task);
  if (!connected) co_return fail("connect", connected.error()).error();
  auto shaken = co_await stream.async_handshake(asio::ssl::stream_base::client, coring::use_task);
  if (!shaken) co_return fail("TLS handshake", shaken.error()).error();

  const std::string request = "GET " + opt.path + " HTTP/1.0\r\nHost: " + opt.host + "\r\n\r\n";
  auto written = co_await asio::async_write(stream, asio::buffer(request), coring::use_task);
  if (!written) co_return fail("write", written.error()).error();

  asio::streambuf reply;
  auto head = co_await asio::async_read_until(stream, reply, "\r\n\r\n", coring::use_task);
  if (!head) co_return fail("read", head.error()).error();
  const std::string headers(asio::buffers_begin(reply.data()), asio::buffers_begin(reply.data()) + *head);
  std::cout << headers;

  // "HTTP/1.x NNN reason"
  const auto space = headers.find(' ');
  if (space == std::string::npos || headers.size() < space + 4) {
    co_return fail("reply", std::make_error_code(std::errc::protocol_error)).error();
  }
  co_return std::stoi(headers.substr(space + 1, 3));
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--ca" && i + 1 < argc) {
      opt.ca_file = argv[++i];
    } else if (arg == "--path" && i + 1 < argc) {
      opt.path = argv[++i];
    } else if (opt.host.empty()) {
      opt.host = arg;
    } else if (opt.port.empty()) {
      opt.port = arg;
    } else {
      opt.host.clear();
      break;
    }
  }
  if (opt.host.empty() || opt.port.empty()) {
    std::cerr << "usage: asio_tls_fetch HOST PORT [--ca CERT.pem] [--path /]\n";
    return 2;
  }
  try {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_verify_mode(asio::ssl::verify_peer);
    if (opt.ca_file.empty()) {
      tls.set_default_verify_paths();
    } else {
      tls.load_verify_file(opt.ca_file);
    }

    // The io_context that runs the ssl::stream, on its own thread.
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    std::thread io_thread([&] { io.run(); });

    coring::runtime rt;
    const coring::result<int> status = rt.block_on([&]() -> coring::task<coring::result<int>> {
      co_return co_await coring::timeout(10s, fetch(io.get_executor(), tls, opt));
    }());

    work.reset();
    io.stop();
    io_thread.join();
    if (!status) {
      if (status.error() == std::errc::timed_out) std::cerr << "asio_tls_fetch: no reply within 10 s\n";
      return 1;  // other errors: fetch() said which step failed
    }
    return *status >= 200 && *status < 300 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "asio_tls_fetch: " << e.what() << "\n";
    return 1;
  }
}
