// SPDX-License-Identifier: MIT
// signals: a periodic job that runs until SIGINT (Ctrl-C) or SIGTERM, then exits cleanly.
//
// The signal_set is made first, in main(), before the runtime starts its threads, so that every
// thread blocks SIGINT and SIGTERM and they reach the set instead of killing the process. A task
// ticks a coring::interval once per period; when_any races it against the set's wait(), and the
// signal's arrival cancels the ticking task (its tick() returns errc::operation_canceled).
//
//   build/release/examples/signals              ticks every 200 ms until Ctrl-C
//   build/release/examples/signals --self-test  sends itself SIGTERM after three ticks (CTest)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <cstring>

namespace {

coring::task<int> tick_until_stopped(bool self_test) {
  coring::interval ticks(std::chrono::milliseconds(200), coring::missed_tick::skip);
  int count = 0;
  while (auto t = co_await ticks.tick()) {  // ends with operation_canceled once the signal came
    ++count;
    std::printf("tick %d\n", count);
    std::fflush(stdout);
    if (self_test && count == 3) ::kill(::getpid(), SIGTERM);
  }
  co_return count;
}

}  // namespace

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::strcmp(argv[1], "--self-test") == 0;
  coring::signal_set stop{SIGINT, SIGTERM};  // before the runtime: its threads inherit the mask
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto done = rt.block_on(coring::when_any(tick_until_stopped(self_test), stop.wait()));
  if (done.index != 1) return 1;  // the ticks ended by themselves: not expected
  const auto signo = std::get<1>(done.value);
  if (!signo) return 1;
  std::printf("got SIG%s, stopping\n", ::sigabbrev_np(*signo));
  return 0;
}
