// SPDX-License-Identifier: MIT
// The child of tests/backend_fallback_test.cpp: blocks io_uring with a seccomp filter (as Docker's
// default profile does), then checks what coring does about it.
//
//   backend_probe <EPERM|ENOSYS> automatic [blocked]  two runtimes on automatic: both run on epoll
//                      (file, TCP, UDP, timer, timeout and cancellation round trips); one stderr line
//   backend_probe <EPERM|ENOSYS> quiet [blocked]      the same with quiet_backend_fallback: no stderr line
//   backend_probe <EPERM|ENOSYS> io_uring [blocked]   backend_kind::io_uring: std::system_error with that
//   errno
// `blocked`: all (io_uring_setup, io_uring_enter and io_uring_register: the default), setup (only
// io_uring_setup) or enter (only io_uring_enter: a ring can be made but never entered).
// Exit status 0 when every check held; otherwise it prints what failed on stdout.
//
//   backend_probe <EPERM|ENOSYS> exec PROGRAM [ARGS...]
// blocks all three calls, then runs PROGRAM in its place (the filter stays on across exec and for
// its children): the examples' tests run each example this way too, unchanged.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

namespace {

/// Makes the io_uring system calls in `blocked` fail with `error` (the others: allowed, like every
/// other call). Only the three are named, so -1 stands for "not blocked".
bool block_io_uring(int error, std::string_view blocked) {
  const bool all = blocked == "all";
  const long setup = all || blocked == "setup" ? __NR_io_uring_setup : -1;
  const long enter = all || blocked == "enter" ? __NR_io_uring_enter : -1;
  const long reg = all ? __NR_io_uring_register : -1;
  const auto nr = [](long call) { return static_cast<unsigned>(call); };
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr(setup), 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr(enter), 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr(reg), 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

int failures = 0;

void expect(bool holds, std::string_view what) {
  if (holds) return;
  ++failures;
  std::cout << "backend_probe: " << what << "\n";
}

coring::task<void> exercise(const std::string& path) {
  {
    auto f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    expect(f.has_value(), "open");
    if (!f) co_return;
    const std::string_view text = "written through epoll";
    auto wrote = co_await f->write_at(std::span<const char>(text.data(), text.size()), 0);
    expect(wrote && *wrote == text.size(), "write_at");
    char back[64] = {};
    auto read = co_await f->read_at(std::span<char>(back), 0);
    expect(read && std::string_view(back, *read) == text, "read_at gives back what was written");
  }
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0));
  expect(listener.has_value(), "bind");
  if (!listener) co_return;
  auto client = co_await coring::net::tcp_stream::connect(listener->local_endpoint().value());
  auto server = co_await listener->accept();
  expect(client && server, "connect and accept");
  if (!client || !server) co_return;
  expect(static_cast<bool>(co_await client->write_all(std::string_view("ping"))), "write_all");
  std::byte got[4];
  expect(static_cast<bool>(co_await server->read_exact(got)) && std::memcmp(got, "ping", 4) == 0,
         "read_exact");
  auto slept = co_await coring::sleep_for(std::chrono::milliseconds(5));
  expect(slept.has_value(), "sleep_for");

  // A deadline ends a read that gets no data; a canceled read ends with operation_canceled.
  std::byte none[1];
  auto late = co_await coring::timeout(std::chrono::milliseconds(10), server->read(std::span(none)));
  expect(!late && late.error() == std::errc::timed_out, "timeout() ends a read without data with timed_out");
  auto reader = [](coring::net::tcp_stream& s) -> coring::task<std::error_code> {
    std::byte byte[1];
    auto n = co_await s.read(std::span(byte));
    co_return n ? std::error_code() : n.error();
  };
  auto canceled = coring::spawn(co_await coring::this_executor(), reader(*server));
  (void)co_await coring::sleep_for(std::chrono::milliseconds(5));
  canceled.cancel();
  expect(co_await canceled == std::errc::operation_canceled, "a canceled read ends with operation_canceled");
  expect(static_cast<bool>(co_await client->write_all(std::string_view("pong"))),
         "write_all after the cancel");
  expect(static_cast<bool>(co_await server->read_exact(got)) && std::memcmp(got, "pong", 4) == 0,
         "no byte lost to the canceled read");

  auto a = coring::net::udp_socket::bind(coring::net::endpoint::loopback_v4(0));
  auto b = coring::net::udp_socket::bind(coring::net::endpoint::loopback_v4(0));
  expect(a && b, "udp bind");
  if (!a || !b) co_return;
  const std::string_view datagram = "datagram";
  auto sent = co_await a->send_to(std::as_bytes(std::span(datagram)), b->local_endpoint().value());
  expect(sent && *sent == datagram.size(), "udp send_to");
  std::byte buffer[64];
  auto received = co_await b->receive_from(std::span(buffer));
  expect(received && received->size == datagram.size() &&
             std::memcmp(buffer, datagram.data(), datagram.size()) == 0 &&
             received->from == a->local_endpoint().value(),
         "udp receive_from gives the datagram and its sender");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::string_view(argv[2]) == "exec") {
    const int refused = std::string_view(argv[1]) == "ENOSYS" ? ENOSYS : EPERM;
    if (!block_io_uring(refused, "all")) {
      std::cerr << "backend_probe: cannot install the seccomp filter: " << std::strerror(errno) << "\n";
      return 3;
    }
    ::execvp(argv[3], argv + 3);
    std::cerr << "backend_probe: cannot run " << argv[3] << ": " << std::strerror(errno) << "\n";
    return 127;
  }
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: backend_probe <EPERM|ENOSYS> <automatic|quiet|io_uring> [all|setup|enter]\n";
    return 2;
  }
  const std::string_view error_name = argv[1];
  const std::string_view mode = argv[2];
  const std::string_view blocked = argc == 4 ? argv[3] : "all";
  const int error = error_name == "ENOSYS" ? ENOSYS : EPERM;
  ::unsetenv("CORING_BACKEND");  // the suite's epoll run sets it; this child tests the automatic choice
  if (!block_io_uring(error, blocked)) {
    std::cout << "backend_probe: cannot install the seccomp filter: " << std::strerror(errno) << "\n";
    return 3;
  }
  const std::string path = "/tmp/coring_backend_probe_" + std::to_string(::getpid());
  try {
    if (mode == "io_uring") {
      try {
        coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .backend = coring::backend_kind::io_uring}};
        expect(false, "backend_kind::io_uring made a runtime where io_uring_setup is blocked");
      } catch (const std::system_error& e) {
        expect(e.code() == std::error_code(error, std::system_category()),
               "the system_error carries the errno");
      }
    } else {
      const bool quiet = mode == "quiet";
      for (int round = 0; round < 2; ++round) {
        coring::runtime rt{{.io_threads = 2, .cpu_threads = 1, .quiet_backend_fallback = quiet}};
        expect(rt.backend() == coring::backend_kind::epoll, "automatic chose epoll");
        rt.block_on(exercise(path));
        coring::event_loop loop{{.quiet_backend_fallback = quiet}};
        expect(loop.backend() == coring::backend_kind::epoll, "an event_loop chose epoll");
        expect(std::string_view(loop.backend_name()) == "epoll", "backend_name() says epoll");
      }
    }
  } catch (const std::exception& e) {
    expect(false, std::string("unexpected exception: ") + e.what());
  }
  ::unlink(path.c_str());
  return failures == 0 ? 0 : 1;
}
