// SPDX-License-Identifier: MIT
// echo_client: the peer of echo_server. Opens N connections at once, each a task spread over the
// io loops with rt.io_balanced(); each sends M messages, reads every echo back and checks it.
//
//   echo_client PORT [CONNECTIONS=64] [MESSAGES=16]
//
// Exits 0 when every echo came back intact, 1 otherwise (with the first error on stderr).
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

using coring::net::endpoint;
using coring::net::tcp_stream;

std::atomic<long> failures{0};

void fail(const char* what, std::error_code e) {
  if (failures.fetch_add(1) == 0) std::fprintf(stderr, "echo_client: %s: %s\n", what, e.message().c_str());
}

coring::task<void> client(endpoint server, int id, int messages) {
  auto s = co_await coring::timeout(std::chrono::seconds(30), tcp_stream::connect(server));
  if (!s) co_return fail("connect", s.error());
  for (int m = 0; m < messages; ++m) {
    const std::string message = "connection " + std::to_string(id) + " message " + std::to_string(m) + "\n";
    if (auto w = co_await s->write_all(std::as_bytes(std::span(message))); !w)
      co_return fail("write", w.error());
    std::string back(message.size(), '\0');
    auto r = co_await coring::timeout(std::chrono::seconds(30),
                                      s->read_exact(std::as_writable_bytes(std::span(back))));
    if (!r) co_return fail("read", r.error());
    if (back != message) co_return fail("echo", std::make_error_code(std::errc::protocol_error));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_client PORT [CONNECTIONS] [MESSAGES]\n");
    return 2;
  }
  const long port = std::strtol(argv[1], nullptr, 10);
  const int connections = argc > 2 ? std::atoi(argv[2]) : 64;
  const int messages = argc > 3 ? std::atoi(argv[3]) : 16;
  if (port <= 0 || port > 65535 || connections < 1 || messages < 0) {
    std::fprintf(stderr, "echo_client: bad arguments\n");
    return 2;
  }
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 1}};
  const endpoint server = endpoint::loopback_v4(static_cast<std::uint16_t>(port));
  std::vector<coring::join_handle<void>> handles;
  for (int i = 0; i < connections; ++i)
    handles.push_back(coring::spawn(rt.io_balanced(), client(server, i, messages)));
  for (auto& h : handles) rt.block_on(std::move(h));
  if (failures.load() != 0) return 1;
  std::printf("%d connections x %d messages echoed\n", connections, messages);
}
