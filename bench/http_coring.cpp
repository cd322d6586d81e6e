// http_coring PORT: the HTTP plaintext benchmark (see peers/http_plaintext.hpp) on coring's
// public API: one io thread (and one CPU worker, unused), a listener task that accepts, and one
// task per connection spawned on the io pool that reads, answers every complete request and
// writes the whole batch of responses at once.
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>

#include "peers/http_plaintext.hpp"

namespace {

using coring::task;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

task<void> serve(tcp_stream stream) {
  (void)stream.set_nodelay(true);
  char buffer[4096];
  std::string pending;
  std::string out;
  for (;;) {
    const coring::result<std::size_t> n = co_await stream.read(std::span<char>{buffer});
    if (!n || *n == 0) break;  // an error, or the peer closed
    if (!http_plaintext::feed(pending, {buffer, *n}, out)) break;
    if (!out.empty()) {
      if (!co_await stream.write_all(std::as_bytes(std::span{out}))) break;
      out.clear();
    }
  }
}

task<void> accept_loop(coring::runtime& rt, tcp_listener listener) {
  for (;;) {
    coring::result<tcp_stream> stream = co_await listener.accept();
    if (!stream) {
      std::fprintf(stderr, "http_coring: accept: %s\n", stream.error().message().c_str());
      continue;
    }
    coring::spawn(rt.io(), serve(std::move(*stream))).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  coring::result<tcp_listener> listener = tcp_listener::bind(coring::net::endpoint::loopback_v4(port));
  if (!listener) {
    std::fprintf(stderr, "http_coring: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  std::fprintf(stderr, "http_coring: listening on 127.0.0.1:%u\n", static_cast<unsigned>(port));
  rt.block_on(accept_loop(rt, std::move(*listener)));
}
