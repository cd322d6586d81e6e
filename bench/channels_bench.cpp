// SPDX-License-Identifier: MIT
// channels_bench: what a broadcast to 4 receivers costs next to a channel send (issue 10 target:
// broadcast to 4 receivers <= 4x a channel send), in the same run.
//
//   cmake --build --preset release --target channels_bench && build/release/bench/channels_bench
//
// Both: one producer task on the io pool sends --items ints, consumers on the CPU pool (2 workers)
// receive them; nanoseconds of wall time per item sent, from the first send to the last receive.
//   channel:   coring::channel<int> of --items capacity, 1 consumer;
//   broadcast: coring::broadcast<int> of --items capacity, 4 receivers, each sees every item.
// The capacity holds every item, so no send waits and no receiver lags: the figures are the cost
// of the send/receive paths and the wake-ups, not of back-pressure.
// Flags: --items=N (1000000)  --reps=N (5).
#include <cstdio>
#include <string>
#include <vector>

#include "coring/coring.hpp"
#include "harness.hpp"

namespace {

coring::runtime_options options() {
  coring::runtime_options o;
  o.io_threads = 1;
  o.cpu_threads = 2;
  return o;
}

coring::task<void> channel_producer(coring::channel<int>& ch, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!co_await ch.send(static_cast<int>(i))) bench::fail("channel: send failed");
  }
}

coring::task<long long> channel_consumer(coring::channel<int>& ch, std::size_t n) {
  long long sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto item = co_await ch.receive();
    if (!item) bench::fail("channel: receive failed: " + item.error().message());
    sum += *item;
  }
  co_return sum;
}

coring::task<long long> channel_root(coring::runtime& rt, coring::channel<int>& ch, std::size_t n) {
  auto consumer = coring::spawn(rt.cpu(), channel_consumer(ch, n));
  auto producer = coring::spawn(rt.io(), channel_producer(ch, n));
  co_await producer;
  co_return co_await consumer;
}

double channel_ns_per_item(std::size_t n) {
  coring::runtime rt{options()};
  coring::channel<int> ch(n);
  bench::stopwatch clock;
  const long long sum = rt.block_on(channel_root(rt, ch, n));
  const double ns = clock.elapsed_ns();
  bench::check(sum == static_cast<long long>(n) * (static_cast<long long>(n) - 1) / 2, "channel: wrong sum");
  return ns / static_cast<double>(n);
}

coring::task<void> broadcast_producer(coring::broadcast<int>& b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!b.send(static_cast<int>(i))) bench::fail("broadcast: send failed");
  }
  co_return;
}

coring::task<long long> broadcast_receiver(coring::broadcast<int>::receiver rx, std::size_t n) {
  long long sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto item = co_await rx.receive();
    if (!item) bench::fail("broadcast: receive failed: " + item.error().message());
    sum += *item;
  }
  co_return sum;
}

coring::task<long long> broadcast_root(coring::runtime& rt, coring::broadcast<int>& b, std::size_t n) {
  std::vector<coring::join_handle<long long>> receivers;
  for (int i = 0; i < 4; ++i)
    receivers.push_back(coring::spawn(rt.cpu(), broadcast_receiver(b.subscribe(), n)));
  auto producer = coring::spawn(rt.io(), broadcast_producer(b, n));
  co_await producer;
  long long total = 0;
  for (auto& r : receivers) total += co_await r;
  co_return total;
}

double broadcast_ns_per_item(std::size_t n) {
  coring::runtime rt{options()};
  coring::broadcast<int> b(n);
  bench::stopwatch clock;
  const long long sum = rt.block_on(broadcast_root(rt, b, n));
  const double ns = clock.elapsed_ns();
  bench::check(sum == 4 * static_cast<long long>(n) * (static_cast<long long>(n) - 1) / 2,
               "broadcast: wrong sum");
  return ns / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  bench::flag_set flags(argc, argv);
  const auto items = static_cast<std::size_t>(std::stoull(flags.get("items", "1000000")));
  const int reps = std::stoi(flags.get("reps", "5"));
  std::vector<double> channel, broadcast, ratio;
  for (int r = 0; r < reps; ++r) {  // interleaved, so both see the same machine
    const double c = channel_ns_per_item(items);
    const double b = broadcast_ns_per_item(items);
    std::fprintf(stderr, "rep %d: channel %.1f ns/item, broadcast to 4 %.1f ns/item\n", r + 1, c, b);
    channel.push_back(c);
    broadcast.push_back(b);
    ratio.push_back(b / c);
  }
  const auto c = bench::summarize(channel);
  const auto b = bench::summarize(broadcast);
  const auto q = bench::summarize(ratio);
  std::printf(
      "| benchmark | metric | min | median | max | target |\n| --- | --- | ---: | ---: | ---: | --- |\n");
  std::printf("| channel send -> 1 receiver | ns/item | %.1f | %.1f | %.1f | |\n", c.min, c.median, c.max);
  std::printf("| broadcast send -> 4 receivers | ns/item | %.1f | %.1f | %.1f | |\n", b.min, b.median, b.max);
  std::printf("| broadcast / channel | ratio | %.2f | %.2f | %.2f | <= 4 |\n", q.min, q.median, q.max);
  return 0;
}
