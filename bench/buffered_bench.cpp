// SPDX-License-Identifier: MIT
// buffered_bench: buffered_reader::read_line over a socket against plain read() into a large
// buffer (issue 10's target: read_line at least 0.9x the plain read's throughput).
//
// One runtime (1 io thread, 1 CPU worker) and a connected pair of sockets (--transport=unix: a
// socketpair; tcp: a loopback connection). A plain thread writes `--total` bytes of text lines of
// `--line` bytes (the '\n' included) in writes of 256 KiB; a task on the io pool reads them all, in
// one of four ways:
//   read(buffer)                 co_await s.read() into a `--buffer`-byte buffer, bytes only (no line
//                                is looked for: the baseline);
//   read(buffer) + memchr lines  the same, plus what a hand-written parser does with that buffer:
//                                memchr for each '\n', the cut line moved to the front;
//   read_line, same buffer       co_await reader.read_line() on a buffered_reader of `--buffer` bytes;
//   read_line, 8 KiB buffer      the same with the default capacity.
// The four runs alternate, `--reps` times, so they share the machine's noise; each ratio is taken
// per repetition and summarized. "wall" is bytes over the run's wall-clock time; "reader CPU" is
// bytes over the CPU time of the io thread that reads (steadier when other processes load the
// machine; the kernel's copy into the buffer is part of it).
//
//   buffered_bench [--transport=unix|tcp] [--total=536870912] [--line=80] [--buffer=65536] [--reps=5]
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "coring/coring.hpp"
#include "harness.hpp"

namespace {

using coring::task;

enum class mode { plain_read, scan_lines, read_line, read_line_default };

const char* name(mode m) {
  switch (m) {
    case mode::plain_read:
      return "read(buffer)";
    case mode::scan_lines:
      return "read(buffer) + memchr lines";
    case mode::read_line:
      return "read_line, same buffer";
    case mode::read_line_default:
      return "read_line, 8 KiB buffer";
  }
  return "?";
}

/// Bytes read, lines seen (0 for the plain read), and the CPU time of the reading thread.
struct counts {
  std::size_t bytes = 0;
  std::size_t lines = 0;
  double cpu_s = 0;
};

double thread_cpu_s() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

template <class Stream>
task<counts> read_with(Stream& s, mode m, std::size_t buffer_size) {
  counts c;
  if (m == mode::plain_read || m == mode::scan_lines) {
    std::vector<char> buffer(buffer_size);
    std::size_t kept = 0;  // the start of a line cut by the end of the last read, moved to the front
    for (;;) {
      const coring::result<std::size_t> n = co_await s.read(std::span<char>(buffer).subspan(kept));
      if (!n) bench::fail("buffered_bench: read: " + n.error().message());
      if (*n == 0) co_return c;
      c.bytes += *n;
      if (m == mode::plain_read) continue;
      // What a hand-written parser does with the large buffer: find each line, move the cut one.
      const char* p = buffer.data();
      const char* const end = buffer.data() + kept + *n;
      while (const void* hit = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
        ++c.lines;
        p = static_cast<const char*>(hit) + 1;
      }
      kept = static_cast<std::size_t>(end - p);
      std::memmove(buffer.data(), p, kept);
      if (kept == buffer.size()) bench::fail("buffered_bench: a line longer than --buffer");
    }
  }
  coring::buffered_reader in{
      s, {.capacity = m == mode::read_line ? buffer_size : coring::buffered_reader_options{}.capacity}};
  for (;;) {
    const coring::result<std::string_view> line = co_await in.read_line();
    if (!line) {
      if (line.error() == coring::stream_errc::end_of_stream) co_return c;
      bench::fail("buffered_bench: read_line: " + line.error().message());
    }
    c.bytes += line->size() + 1;
    ++c.lines;
  }
}

template <class Stream>
task<counts> read_everything(Stream& s, mode m, std::size_t buffer_size) {
  const double start = thread_cpu_s();  // an io-pool task keeps its loop's thread
  counts c = co_await read_with(s, m, buffer_size);
  c.cpu_s = thread_cpu_s() - start;
  co_return c;
}

/// A connected pair: [0] for the coring reader, [1] for the writer thread.
std::pair<int, int> connect_pair(const std::string& transport) {
  if (transport == "unix") {
    int fds[2];
    bench::check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
    return {fds[0], fds[1]};
  }
  bench::check(transport == "tcp", "--transport is unix or tcp");
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0));
  bench::check(static_cast<bool>(listener), "bind");
  const coring::net::endpoint where = listener->local_endpoint().value();
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bench::check(client >= 0, "socket");
  bench::check(::connect(client, where.data(), where.size()) == 0, "connect");
  const int server = ::accept4(listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  bench::check(server >= 0, "accept");
  return {server, client};
}

struct speed {
  double wall_mb_s;  // bytes over the run's wall-clock time
  double cpu_mb_s;   // bytes over the reading thread's CPU time (steadier on a loaded machine)
};

/// One run.
speed run_once(coring::runtime& rt, const std::string& transport, mode m, std::size_t total, std::size_t line,
               std::size_t buffer_size) {
  const auto [reader_fd, writer_fd] = connect_pair(transport);
  std::string text;  // 256 KiB of whole lines
  for (std::size_t i = 0; text.size() + line <= 256 * 1024; ++i) {
    std::string l(line - 1, static_cast<char>('a' + i % 26));
    text += l;
    text += '\n';
  }
  std::thread writer([&, fd = writer_fd] {
    std::size_t sent = 0;
    while (sent < total) {
      const std::size_t n = std::min(text.size(), total - sent);
      bench::check(bench::detail::write_all(fd, text.data(), n), "write");
      sent += n;
    }
    ::close(fd);
  });
  bench::stopwatch clock;
  const counts c = rt.block_on([](int fd, bool tcp, mode how, std::size_t size) -> task<counts> {
    if (tcp) {
      coring::net::tcp_stream s{fd};
      co_return co_await read_everything(s, how, size);
    }
    coring::net::unix_stream s{fd};
    co_return co_await read_everything(s, how, size);
  }(reader_fd, transport == "tcp", m, buffer_size));
  const double seconds = clock.elapsed_s();
  writer.join();
  bench::check(c.bytes == total, "the reader got every byte");
  if (m != mode::plain_read) bench::check(c.lines == total / line, "every line");
  return {static_cast<double>(total) / 1e6 / seconds, static_cast<double>(total) / 1e6 / c.cpu_s};
}

}  // namespace

int main(int argc, char** argv) {
  const bench::flag_set flags(argc, argv);
  const std::string transport = flags.get("transport", "unix");
  const auto total = static_cast<std::size_t>(flags.get_int("total", 512ll * 1024 * 1024));
  const auto line = static_cast<std::size_t>(flags.get_int("line", 80));
  const auto buffer_size = static_cast<std::size_t>(flags.get_int("buffer", 64 * 1024));
  const int reps = static_cast<int>(flags.get_int("reps", 5));
  if (!flags.unknown().empty()) bench::fail("unknown flag --" + flags.unknown().front());
  bench::check(line >= 2 && total % line == 0, "--total must be a multiple of --line (>= 2)");

  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const mode modes[] = {mode::plain_read, mode::scan_lines, mode::read_line, mode::read_line_default};
  constexpr int n_modes = 4;
  std::vector<double> wall[n_modes], cpu[n_modes];
  (void)run_once(rt, transport, mode::plain_read, std::min<std::size_t>(total, 64 << 20) / line * line, line,
                 buffer_size);  // warm-up
  // Ratios against the plain read (0) and against the hand-written line scan (1).
  std::vector<double> wall_ratio[n_modes][2], cpu_ratio[n_modes][2];
  for (int r = 0; r < reps; ++r) {
    speed v[n_modes];
    for (int i = 0; i < n_modes; ++i) {
      v[i] = run_once(rt, transport, modes[i], total, line, buffer_size);
      wall[i].push_back(v[i].wall_mb_s);
      cpu[i].push_back(v[i].cpu_mb_s);
    }
    for (int i = 1; i < n_modes; ++i) {
      for (int base = 0; base < 2; ++base) {
        wall_ratio[i][base].push_back(v[i].wall_mb_s / v[base].wall_mb_s);
        cpu_ratio[i][base].push_back(v[i].cpu_mb_s / v[base].cpu_mb_s);
      }
    }
  }

  bench::table t;
  const std::string what = "lines of " + std::to_string(line) + " B over " + transport;
  for (int i = 0; i < n_modes; ++i) t.add(what, name(modes[i]), "MB/s (wall)", bench::summarize(wall[i]));
  for (int i = 0; i < n_modes; ++i)
    t.add(what, name(modes[i]), "MB/s (reader CPU)", bench::summarize(cpu[i]));
  for (int i = 2; i < n_modes; ++i) {
    const std::string who = name(modes[i]);
    t.add(what, who + " / read", "ratio (wall)", bench::summarize(wall_ratio[i][0]), i == 2 ? ">= 0.9" : "");
    t.add(what, who + " / read", "ratio (reader CPU)", bench::summarize(cpu_ratio[i][0]));
    t.add(what, who + " / memchr lines", "ratio (wall)", bench::summarize(wall_ratio[i][1]));
    t.add(what, who + " / memchr lines", "ratio (reader CPU)", bench::summarize(cpu_ratio[i][1]));
  }
  t.print();
  std::printf("buffer %zu B, total %zu B per run, %d repetitions\n", buffer_size, total, reps);
}
