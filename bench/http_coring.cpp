// SPDX-License-Identifier: MIT
// http_coring PORT: the HTTP plaintext benchmark (see peers/http_plaintext.hpp) on coring's
// public API: one io thread (and one CPU worker, unused), a listener task on a multishot accept,
// and one task per connection spawned on the io pool that receives chunks from a multishot
// receive, answers every complete request and writes the whole batch of responses at once.
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

task<void> write_out(const tcp_stream& stream, const std::string& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const coring::result<std::size_t> n = co_await stream.write(std::span<const char>(out).subspan(done));
    if (!n || *n == 0) co_return;
    done += *n;
  }
}

// Registered in the ring (fixed file), one multishot receive into the loop's buffer ring; the
// responses to everything a chunk held go out in one send.
task<void> serve(tcp_stream stream) {
  (void)stream.set_nodelay(true);
  (void)co_await stream.register_in_ring();
  coring::receive_stream chunks = stream.receive_chunks();  // destroyed before the stream
  std::string pending;
  std::string out;
  for (;;) {
    coring::result<coring::received_chunk> chunk = co_await chunks.next();
    if (!chunk || chunk->empty()) break;  // an error, or the peer closed
    const bool ok = http_plaintext::feed(pending, chunk->text(), out);
    chunk->release();  // the buffer goes back to the ring before the send
    if (!ok) break;
    if (!out.empty()) {
      const coring::result<std::size_t> n = co_await stream.write(std::span<const char>(out));
      if (!n) break;
      if (*n < out.size()) co_await write_out(stream, out.substr(*n));
      out.clear();
    }
  }
}

// One multishot accept request for every connection.
task<void> accept_loop(coring::runtime& rt, tcp_listener listener) {
  coring::net::incoming_connections incoming = listener.incoming();
  for (;;) {
    coring::result<tcp_stream> stream = co_await incoming.next();
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
