// SPDX-License-Identifier: MIT
// Seeing inside a running service: the stall detector and the task dump.
//
//   debugging              runs a small service for a moment: one of its handlers blocks the io
//                          loop (a stall report appears on stderr), then the dump of every task is
//                          printed to stdout
//   debugging --self-test  the same, and checks that both say what they should (exit status)
//   debugging --serve      keeps running: `kill -USR1 <pid>` prints the dump to stderr
//
// In a real service, keep stall_threshold at its default (100 ms) and set dump_signal: a hung
// process then tells you which task waits where, also when every io loop is stuck.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

coring::task<void> ticker(coring::channel<int>& jobs) {
  for (int i = 0;; ++i) {
    (void)co_await coring::sleep_for(20ms);
    if (!co_await jobs.send(i)) co_return;
  }
}

coring::task<int> handle(int job) {
  (void)co_await coring::sleep_for(5ms);
  if (job == 3) std::this_thread::sleep_for(250ms);  // the bug: a blocking call on the io loop
  co_return job * 2;
}

coring::task<void> worker(coring::channel<int>& jobs) {
  while (auto job = co_await jobs.receive()) (void)co_await handle(*job);
}

coring::task<void> auditor(coring::channel<std::string>& events) {
  while (auto event = co_await events.receive()) std::printf("audit: %s\n", event->c_str());
}

coring::task<void> idle_connection_reader(coring::net::tcp_stream stream) {
  char buffer[64];
  (void)co_await stream.read(std::span(buffer));  // the peer never writes
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .dump_signal = SIGUSR1}};
  std::mutex mutex;
  std::vector<std::string> stalls;
  rt.set_stall_handler([&](const coring::stall_report& report) {
    std::fprintf(stderr, "%s\n", coring::to_string(report).c_str());
    std::lock_guard lock(mutex);
    stalls.push_back(coring::to_string(report));
  });

  coring::channel<int> jobs{8};
  coring::spawn_detached(rt.io(), ticker(jobs));
  coring::spawn_detached(rt.io(), worker(jobs));
  coring::channel<std::string> audit{4};  // nothing is sent: the auditor waits all along
  coring::spawn_detached(rt.cpu(), auditor(audit));
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0));
  if (!listener) {
    std::fprintf(stderr, "debugging: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  const auto port = listener->local_endpoint().value().port();
  auto accept_one = [&]() -> coring::task<void> {
    auto stream = co_await listener->accept();
    if (stream) coring::spawn_detached(rt.io(), idle_connection_reader(std::move(*stream)));
  };
  coring::spawn_detached(rt.io(), accept_one());
  auto client = rt.block_on([&]() -> coring::task<coring::result<coring::net::tcp_stream>> {
    co_return co_await coring::net::tcp_stream::connect(coring::net::endpoint::loopback_v4(port));
  }());

  if (mode == "--serve") {
    std::printf("debugging: pid %d; kill -USR1 %d prints the task dump to stderr; Ctrl-C ends\n", ::getpid(),
                ::getpid());
    std::fflush(stdout);
    for (;;) std::this_thread::sleep_for(1h);
  }
  std::this_thread::sleep_for(600ms);  // the stall happens in here
  std::ostringstream dump;
  rt.dump_tasks(dump);
  std::cout << dump.str();
  jobs.close();
  audit.close();

  if (mode != "--self-test") return 0;
  const std::string text = dump.str();
  std::lock_guard lock(mutex);
  const bool stall_ok = stalls.size() == 1 && stalls[0].find("io-0 has run one task") != std::string::npos &&
                        stalls[0].find("debugging.cpp") != std::string::npos;
  const bool dump_ok = text.find("waiting for channel receive") != std::string::npos &&
                       text.find("waiting for receive on fd") != std::string::npos &&
                       text.find("waiting for sleep") != std::string::npos &&
                       text.find("debugging.cpp") != std::string::npos;
  std::printf("debugging: self-test %s (stall report %s, dump %s)\n",
              stall_ok && dump_ok ? "passed" : "FAILED", stall_ok ? "ok" : "wrong", dump_ok ? "ok" : "wrong");
  return stall_ok && dump_ok ? 0 : 1;
}
