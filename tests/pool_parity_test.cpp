// SPDX-License-Identifier: MIT
// The same sequence of operations (file, TCP, UDP, wait_readable, sleep_for) run once by an
// io-pool task and once by a CPU-pool task: the results must match, and after every co_await the
// task must still run on the pool it started on (an io-pool task on its own loop's thread).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/wait_fd.hpp>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;
using coring::net::endpoint;
using coring::net::tcp_listener;
using coring::net::tcp_stream;
using coring::net::udp_socket;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

/// What a run saw: one line per step (compared between the pools), and the steps after which the
/// task was not where it started.
struct transcript {
  std::vector<std::string> steps;
  std::vector<std::string> misplaced;
};

/// Records where the task runs after each co_await.
class where_check {
 public:
  where_check(coring::executor home, bool same_thread)
      : home_(home), same_thread_(same_thread), thread_(std::this_thread::get_id()) {}

  void after(transcript& t, const std::string& step) const {
    if (!home_.running_in_this_thread()) {
      t.misplaced.push_back(step + ": not on its pool");
    } else if (same_thread_ && std::this_thread::get_id() != thread_) {
      t.misplaced.push_back(step + ": on another loop's thread");
    }
  }

 private:
  coring::executor home_;
  bool same_thread_;
  std::thread::id thread_;
};

std::string outcome_of(const std::error_code& error) {
  return error ? "error " + error.message() : "ok";
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// The sequence. `dir` is a fresh directory; `listener` listens on loopback; `pipe_read` is the
/// read end of a pipe whose write end is `pipe_write`.
task<transcript> run_sequence(coring::executor home, bool same_thread, std::string dir,
                              const tcp_listener& listener, int pipe_read, int pipe_write) {
  transcript t;
  const where_check check(home, same_thread);
  auto note = [&t](const std::string& line) { t.steps.push_back(line); };

  // ---- file: open, write_at, read_at, stat, close
  {
    coring::result<coring::file> opened =
        co_await coring::file::open(dir + "/sequence.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    check.after(t, "file::open");
    note("open: " + outcome_of(opened.error()));
    if (!opened) co_return t;
    coring::file f = std::move(*opened);

    const std::string payload = "the same bytes from either pool";
    const coring::result<std::size_t> written = co_await f.write_at(std::span<const char>(payload), 0);
    check.after(t, "file::write_at");
    note("write_at: " + (written ? std::to_string(*written) : outcome_of(written.error())));
    const coring::result<std::size_t> tail = co_await f.write_at(std::span<const char>("!", 1), 100);
    check.after(t, "file::write_at past the end");
    note("write_at 100: " + (tail ? std::to_string(*tail) : outcome_of(tail.error())));

    std::array<char, 256> buffer{};
    const coring::result<std::size_t> read = co_await f.read_at(std::span<char>(buffer), 0);
    check.after(t, "file::read_at");
    if (read) {
      const std::string back(buffer.data(), *read);
      note("read_at: " + std::to_string(*read) + " bytes, starts right: " +
           (back.starts_with(payload) ? "yes" : "no") + ", ends with '" + back.substr(back.size() - 1) + "'");
    } else {
      note("read_at: " + outcome_of(read.error()));
    }

    const coring::result<coring::file_status> st = co_await f.stat();
    check.after(t, "file::stat");
    note("stat: " +
         (st ? "size " + std::to_string(st->size) + (st->is_regular() ? " regular" : " not regular")
             : outcome_of(st.error())));

    const coring::result<void> closed = co_await f.close();
    check.after(t, "file::close");
    note("close: " + outcome_of(closed.error()));
  }

  // ---- tcp: connect, accept, write, read both ways, wait_readable on the socket, close
  {
    const endpoint server_at = listener.local_endpoint().value();
    coring::result<tcp_stream> client = co_await tcp_stream::connect(server_at);
    check.after(t, "tcp_stream::connect");
    note("connect: " + outcome_of(client.error()));
    if (!client) co_return t;
    coring::result<tcp_stream> server = co_await listener.accept();
    check.after(t, "tcp_listener::accept");
    note("accept: " + outcome_of(server.error()));
    if (!server) co_return t;
    note(std::string("peers agree: ") +
         (server->peer_endpoint().value() == client->local_endpoint().value() ? "yes" : "no"));

    const coring::result<std::size_t> sent = co_await client->write(std::span<const char>("ping", 4));
    check.after(t, "tcp_stream::write");
    note("client write: " + (sent ? std::to_string(*sent) : outcome_of(sent.error())));
    std::array<char, 16> buffer{};
    std::string got;
    while (got.size() < 4) {
      const coring::result<std::size_t> n = co_await server->read(std::span<char>(buffer));
      check.after(t, "tcp_stream::read (server)");
      if (!n || *n == 0) break;
      got.append(buffer.data(), *n);
    }
    note("server read: " + got);

    const coring::result<std::size_t> answered = co_await server->write(std::span<const char>("pong!", 5));
    check.after(t, "tcp_stream::write (server)");
    note("server write: " + (answered ? std::to_string(*answered) : outcome_of(answered.error())));
    const coring::result<unsigned> readable = co_await coring::wait_readable(client->native_handle());
    check.after(t, "wait_readable (socket)");
    note(std::string("socket readable: ") + (readable && (*readable & POLLIN) != 0 ? "yes" : "no"));
    got.clear();
    while (got.size() < 5) {
      const coring::result<std::size_t> n = co_await client->read(std::span<char>(buffer));
      check.after(t, "tcp_stream::read (client)");
      if (!n || *n == 0) break;
      got.append(buffer.data(), *n);
    }
    note("client read: " + got);

    const coring::result<void> closed = co_await client->close();
    check.after(t, "tcp_stream::close");
    note("client close: " + outcome_of(closed.error()));
    const coring::result<std::size_t> eof = co_await server->read(std::span<char>(buffer));
    check.after(t, "tcp_stream::read (end of stream)");
    note("server read after close: " + (eof ? std::to_string(*eof) : outcome_of(eof.error())));
  }

  // ---- udp: send_to, receive_from
  {
    coring::result<udp_socket> a = udp_socket::bind(endpoint::loopback_v4(0));
    coring::result<udp_socket> b = udp_socket::bind(endpoint::loopback_v4(0));
    note("udp bind: " + outcome_of(a.error()) + ", " + outcome_of(b.error()));
    if (!a || !b) co_return t;
    const coring::result<std::size_t> sent =
        co_await a->send_to(bytes_of("datagram"), b->local_endpoint().value());
    check.after(t, "udp_socket::send_to");
    note("send_to: " + (sent ? std::to_string(*sent) : outcome_of(sent.error())));
    std::array<std::byte, 64> buffer{};
    const coring::result<coring::net::received> got = co_await b->receive_from(buffer);
    check.after(t, "udp_socket::receive_from");
    if (got) {
      const std::string text(reinterpret_cast<const char*>(buffer.data()), got->size);
      note("receive_from: '" + text +
           "' from the sender: " + (got->from == a->local_endpoint().value() ? "yes" : "no"));
    } else {
      note("receive_from: " + outcome_of(got.error()));
    }
  }

  // ---- wait_readable on a pipe that another thread makes readable
  {
    std::thread writer([pipe_write] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      (void)!::write(pipe_write, "x", 1);
    });
    const coring::result<unsigned> ready = co_await coring::wait_readable(pipe_read);
    check.after(t, "wait_readable (pipe)");
    writer.join();
    note(std::string("pipe readable: ") + (ready && (*ready & POLLIN) != 0 ? "yes" : "no"));
    char byte = 0;
    const ssize_t n = ::read(pipe_read, &byte, 1);
    note("pipe byte: " + std::to_string(n) + " '" + std::string(1, byte) + "'");
  }

  // ---- sleep_for
  {
    const auto start = std::chrono::steady_clock::now();
    const coring::result<void> slept = co_await coring::sleep_for(std::chrono::milliseconds(3));
    check.after(t, "sleep_for");
    note("sleep_for: " + outcome_of(slept.error()) + ", long enough: " +
         (std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(3) ? "yes" : "no"));
  }
  co_return t;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

using coring_test::temp_dir;

}  // namespace

TEST_CASE(
    "the same operations from an io-pool task and a CPU-pool task give the same results, on their pools") {
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  coring::result<tcp_listener> listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);

  // The right results, not merely the same ones.
  const std::vector<std::string> expected = {
      "open: ok",
      "write_at: 31",
      "write_at 100: 1",
      "read_at: 101 bytes, starts right: yes, ends with '!'",
      "stat: size 101 regular",
      "close: ok",
      "connect: ok",
      "accept: ok",
      "peers agree: yes",
      "client write: 4",
      "server read: ping",
      "server write: 5",
      "socket readable: yes",
      "client read: pong!",
      "client close: ok",
      "server read after close: 0",
      "udp bind: ok, ok",
      "send_to: 8",
      "receive_from: 'datagram' from the sender: yes",
      "pipe readable: yes",
      "pipe byte: 1 'x'",
      "sleep_for: ok, long enough: yes",
  };
  std::vector<transcript> runs;
  for (const bool on_io : {true, false}) {
    CAPTURE(on_io);
    const temp_dir dir;
    const coring::executor home = on_io ? rt.io() : rt.cpu();
    // An io-pool task stays on its loop's thread; a CPU-pool task may move between workers.
    runs.push_back(rt.block_on(
        join(coring::spawn(home, run_sequence(home, on_io, dir.path(), *listener, fds[0], fds[1])))));
    const transcript& t = runs.back();
    for (const std::string& m : t.misplaced) FAIL_CHECK(m);
    CHECK(t.misplaced.empty());
    CHECK(t.steps.size() == expected.size());  // every step ran
  }
  ::close(fds[0]);
  ::close(fds[1]);

  const transcript& io = runs[0];
  const transcript& cpu = runs[1];
  CHECK(io.steps == cpu.steps);
  for (std::size_t i = 0; i < std::min(io.steps.size(), cpu.steps.size()); ++i) {
    if (io.steps[i] != cpu.steps[i])
      FAIL_CHECK("io pool: '" << io.steps[i] << "', CPU pool: '" << cpu.steps[i] << "'");
  }
  CHECK(io.steps == expected);
  for (std::size_t i = 0; i < std::min(io.steps.size(), expected.size()); ++i) {
    if (io.steps[i] != expected[i])
      FAIL_CHECK("got '" << io.steps[i] << "', expected '" << expected[i] << "'");
  }
}
