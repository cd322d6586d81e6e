// SPDX-License-Identifier: MIT
// N operations of one kind on a standalone event_loop, one thread, no timing of its own: a program
// to count instructions per operation with callgrind, a figure the machine's noise cannot move.
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null build/release/bench/path_cost_bench yield 20000
//   (and again with 40000: the difference of the two totals / 20000 is the cost of one operation)
//
// Kinds: yield (a suspension and a resumption through the loop's ready queue, one loop turn),
// mutex (an uncontended lock and unlock: the ready path of an awaitable), channel (a send and a
// receive between two tasks through a channel of capacity 1), spawn (spawn a task and await it).
#include <coring/coring.hpp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

coring::task<void> yields(int n) {
  for (int i = 0; i < n; ++i) co_await coring::yield();
}

coring::task<void> locks(int n, coring::async_mutex& m) {
  for (int i = 0; i < n; ++i) {
    auto guard = co_await m.scoped_lock();
  }
}

coring::task<void> sends(int n, coring::channel<int>& ch) {
  for (int i = 0; i < n; ++i) (void)co_await ch.send(i);
}

coring::task<void> receives(int n, coring::channel<int>& ch) {
  for (int i = 0; i < n; ++i) (void)co_await ch.receive();
}

coring::task<void> nothing() {
  co_return;
}

coring::task<void> spawns(int n, coring::executor ex) {
  for (int i = 0; i < n; ++i) co_await coring::spawn(ex, nothing());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: path_cost_bench yield|mutex|channel|spawn N\n");
    return 2;
  }
  const std::string_view kind = argv[1];
  const int n = std::atoi(argv[2]);
  coring::event_loop loop;
  coring::async_mutex mutex;
  coring::channel<int> channel{1};
  if (kind == "yield") {
    loop.spawn(yields(n)).detach();
  } else if (kind == "mutex") {
    loop.spawn(locks(n, mutex)).detach();
  } else if (kind == "channel") {
    loop.spawn(sends(n, channel)).detach();
    loop.spawn(receives(n, channel)).detach();
  } else if (kind == "spawn") {
    loop.spawn(spawns(n, loop.get_executor())).detach();
  } else {
    std::fprintf(stderr, "path_cost_bench: unknown kind '%s'\n", argv[1]);
    return 2;
  }
  loop.run();
  return 0;
}
