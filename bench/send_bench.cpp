// SPDX-License-Identifier: MIT
// send_bench: tcp_stream::write against write_zero_copy (IORING_OP_SEND_ZC) for large writes.
//
// One runtime (1 io thread, 1 CPU worker), a loopback connection: a task on the io pool writes
// `--total` bytes in writes of `--chunk` bytes with one of the two calls, a plain thread reads and
// discards them. Prints MB/s and the process CPU time per MB, per repetition, and the medians.
// On loopback the kernel copies zero-copy sends anyway (the skb is delivered locally), so this
// measures the cost of the notification path; where zero copy pays is a real NIC.
//
//   send_bench [--chunk=1048576] [--total=2147483648] [--reps=3]
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "coring/coring.hpp"
#include "harness.hpp"

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;

struct outcome {
  double mb_per_s = 0;
  double cpu_ns_per_mb = 0;
};

task<std::size_t> send_all(tcp_listener& listener, std::size_t chunk, std::size_t total, bool zero_copy) {
  coring::result<tcp_stream> stream = co_await listener.accept();
  if (!stream) bench::fail("send_bench: accept: " + stream.error().message());
  std::vector<std::byte> data(chunk, std::byte{'z'});
  std::size_t sent = 0;
  while (sent < total) {
    const std::size_t n = std::min(chunk, total - sent);
    const std::span<const std::byte> part(data.data(), n);
    coring::result<std::size_t> r =
        zero_copy ? co_await stream->write_zero_copy(part) : co_await stream->write(part);
    if (!r) bench::fail("send_bench: write: " + r.error().message());
    sent += *r;
  }
  co_return sent;
}

outcome run(std::size_t chunk, std::size_t total, bool zero_copy) {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  if (!listener) bench::fail("send_bench: bind: " + listener.error().message());
  const std::uint16_t port = listener->local_endpoint().value().port();
  std::size_t received = 0;
  std::thread reader([&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const endpoint peer = endpoint::loopback_v4(port);
    if (::connect(fd, peer.data(), peer.size()) != 0) bench::fail("send_bench: connect");
    std::vector<char> buffer(1 << 20);
    while (received < total) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n <= 0) break;
      received += static_cast<std::size_t>(n);
    }
    ::close(fd);
  });
  const double cpu0 = bench::process_cpu_ns();
  bench::stopwatch clock;
  const std::size_t sent = rt.block_on(send_all(*listener, chunk, total, zero_copy));
  reader.join();
  const double wall = clock.elapsed_ns();
  const double cpu = bench::process_cpu_ns() - cpu0;
  if (sent != total || received != total) bench::fail("send_bench: bytes lost");
  const double mb = static_cast<double>(total) / 1e6;
  return {mb / (wall / 1e9), cpu / mb};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t chunk = 1 << 20;
  std::size_t total = std::size_t{2} << 30;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--chunk=", 0) == 0)
      chunk = std::stoull(arg.substr(8));
    else if (arg.rfind("--total=", 0) == 0)
      total = std::stoull(arg.substr(8));
    else if (arg.rfind("--reps=", 0) == 0)
      reps = std::stoi(arg.substr(7));
    else {
      std::fprintf(stderr, "usage: %s [--chunk=BYTES] [--total=BYTES] [--reps=N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("| call | chunk | MB/s (median) | CPU ns per MB (median) |\n| --- | ---: | ---: | ---: |\n");
  for (const bool zero_copy : {false, true}) {
    std::vector<double> rate, cost;
    for (int r = 0; r < reps; ++r) {
      const outcome o = run(chunk, total, zero_copy);
      std::fprintf(stderr, "%s rep %d: %.0f MB/s, %.0f CPU ns/MB\n", zero_copy ? "write_zero_copy" : "write",
                   r + 1, o.mb_per_s, o.cpu_ns_per_mb);
      rate.push_back(o.mb_per_s);
      cost.push_back(o.cpu_ns_per_mb);
    }
    std::printf("| %s | %zu | %.0f | %.0f |\n", zero_copy ? "write_zero_copy" : "write", chunk, median(rate),
                median(cost));
  }
}
