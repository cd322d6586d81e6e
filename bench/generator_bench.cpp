// SPDX-License-Identifier: MIT
// generator_bench: what one value costs through coring::async_generator (co_yield in the body,
// co_await gen.next() in the consumer) next to a plain `co_await` of a task that returns it, and
// through the synchronous coring::generator next to a plain loop. The target: an
// async_generator yield + resume costs at most 2x a task await.
//
// One runtime (1 io thread, 1 CPU worker); each workload runs as one task on the pool named by
// --pool (cpu or io) and takes --n values; each repetition reports ns per value, and the table
// gives min / median / max over --reps, and the ratio of the medians.
//
//   generator_bench [--n=10000000] [--reps=5] [--pool=cpu]
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "coring/coring.hpp"
#include "harness.hpp"

namespace {

using coring::task;

// Values the compiler cannot fold away.
volatile std::uint64_t sink = 0;

[[gnu::noinline]] task<std::uint64_t> leaf(std::uint64_t i) {
  co_return i;
}

task<double> task_awaits(std::uint64_t n) {
  bench::stopwatch clock;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) sum += co_await leaf(i);
  sink = sum;
  co_return clock.elapsed_ns() / static_cast<double>(n);
}

coring::async_generator<std::uint64_t> async_values(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) co_yield i;
}

task<double> async_generator_values(std::uint64_t n) {
  bench::stopwatch clock;
  std::uint64_t sum = 0;
  auto gen = async_values(n);
  while (auto v = co_await gen.next()) sum += *v;
  sink = sum;
  co_return clock.elapsed_ns() / static_cast<double>(n);
}

coring::generator<std::uint64_t> sync_values(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) co_yield i;
}

task<double> sync_generator_values(std::uint64_t n) {
  bench::stopwatch clock;
  std::uint64_t sum = 0;
  for (std::uint64_t v : sync_values(n)) sum += v;
  sink = sum;
  co_return clock.elapsed_ns() / static_cast<double>(n);
}

template <class Make>
task<double> on_pool(coring::executor where, Make make) {
  co_await coring::on(where);
  co_return co_await make();
}

}  // namespace

int main(int argc, char** argv) {
  bench::flag_set flags(argc, argv);
  const auto n = static_cast<std::uint64_t>(flags.get_int("n", 10'000'000));
  const int reps = static_cast<int>(flags.get_int("reps", 5));
  const std::string pool = flags.get("pool", "cpu");
  if (!flags.unknown().empty()) bench::fail("unknown flag --" + flags.unknown().front());
  if (pool != "cpu" && pool != "io") bench::fail("--pool is cpu or io");

  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const coring::executor where = pool == "cpu" ? rt.cpu() : rt.io();
  auto run = [&](auto workload) { return rt.block_on(on_pool(where, [&] { return workload(n); })); };
  (void)run(task_awaits);  // warm the frame allocator's caches
  // Interleaved, so that a slow period of the machine hits every workload alike.
  std::vector<double> awaits, async_gen, sync_gen;
  for (int r = 0; r < reps; ++r) {
    awaits.push_back(run(task_awaits));
    async_gen.push_back(run(async_generator_values));
    sync_gen.push_back(run(sync_generator_values));
  }
  const bench::summary a = bench::summarize(awaits), g = bench::summarize(async_gen),
                       s = bench::summarize(sync_gen);
  std::printf("| workload (%s pool, n=%llu) | ns/value min | median | max |\n|---|---|---|---|\n",
              pool.c_str(), static_cast<unsigned long long>(n));
  std::printf("| co_await task<T> (plain task await) | %.2f | %.2f | %.2f |\n", a.min, a.median, a.max);
  std::printf("| async_generator co_yield + next() | %.2f | %.2f | %.2f |\n", g.min, g.median, g.max);
  std::printf("| generator co_yield + ++ (synchronous) | %.2f | %.2f | %.2f |\n", s.min, s.median, s.max);
  std::printf("\nasync_generator / task await (medians): %.2fx (target <= 2x)\n", g.median / a.median);
  return 0;
}
