// SPDX-License-Identifier: MIT
// asio_interop_bench: what the Asio bridges cost, beside a native coring hop in the same run.
//
//   native hop      a task on the CPU pool: co_await on(rt.io()), co_await on(rt.cpu()); per round trip
//   use_task post   a task on the CPU pool: co_await asio::post(io_context, coring::use_task), the
//                   io_context run by a thread of its own; per round trip (to Asio and back)
//   async_run       an Asio coroutine on the io_context: co_await coring::async_run(rt.cpu(), t,
//                   asio::use_awaitable) of a task that returns at once; per round trip
//   asio alone      the same round trip without coring: io_context thread -> thread_pool(1) -> back
// Target (issue 13): use_task post <= 2x native hop. A use_task round trip wakes the io_context's
// thread once, so it cannot cost less than half of "asio alone" (which wakes two Asio threads).
//
//   build/release/bench/asio_interop_bench [--reps=5] [--n=100000]
#include <asio.hpp>
#include <coring/asio/async_run.hpp>
#include <coring/asio/use_task.hpp>
#include <coring/coring.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "harness.hpp"

namespace {

coring::runtime_options two_threads() {
  return coring::runtime_options{.io_threads = 1, .cpu_threads = 1};
}

coring::task<double> hop_loop(coring::executor io, coring::executor cpu, std::size_t n) {
  co_await coring::on(cpu);
  bench::stopwatch clock;
  for (std::size_t i = 0; i < n; ++i) {
    co_await coring::on(io);
    co_await coring::on(cpu);
  }
  co_return clock.elapsed_ns();
}

double native_hop(std::size_t n) {
  coring::runtime rt{two_threads()};
  const double ns = rt.block_on(hop_loop(rt.io(), rt.cpu(), n));
  return ns / 1e3 / static_cast<double>(n);
}

coring::task<double> post_loop(coring::executor cpu, asio::io_context& context, std::size_t n) {
  co_await coring::on(cpu);
  bench::stopwatch clock;
  for (std::size_t i = 0; i < n; ++i) co_await asio::post(context, coring::use_task);
  bench::check(cpu.running_in_this_thread(), "use_task post: the task did not resume on the CPU pool");
  co_return clock.elapsed_ns();
}

double use_task_post(std::size_t n) {
  coring::runtime rt{two_threads()};
  asio::io_context context;
  auto work = asio::make_work_guard(context);
  std::thread runner([&] { context.run(); });
  const double ns = rt.block_on(post_loop(rt.cpu(), context, n));
  work.reset();
  runner.join();
  return ns / 1e3 / static_cast<double>(n);
}

// The peer: the same round trip in Asio alone (an io_context thread and a thread_pool(1)), so the
// cost of waking an Asio thread is measured in the same run.
double asio_hop(std::size_t n) {
  asio::io_context context;
  asio::thread_pool pool(1);
  auto work = asio::make_work_guard(context);
  std::thread runner([&] { context.run(); });
  std::promise<double> done;
  std::size_t left = n;
  bench::stopwatch clock;
  std::function<void()> step = [&] {
    if (left-- == 0) {
      done.set_value(clock.elapsed_ns());
      return;
    }
    asio::post(pool, [&] { asio::post(context, step); });
  };
  asio::post(context, step);
  const double ns = done.get_future().get();
  work.reset();
  runner.join();
  pool.join();
  return ns / 1e3 / static_cast<double>(n);
}

coring::task<int> one() {
  co_return 1;
}

double async_run_awaitable(std::size_t n) {
  coring::runtime rt{two_threads()};
  asio::io_context context;
  double ns = 0;
  asio::co_spawn(
      context,
      [&]() -> asio::awaitable<void> {
        bench::stopwatch clock;
        std::size_t sum = 0;
        for (std::size_t i = 0; i < n; ++i)
          sum += co_await coring::async_run(rt.cpu(), one(), asio::use_awaitable);
        ns = clock.elapsed_ns();
        bench::check(sum == n, "async_run: a task's value was lost");
      },
      asio::detached);
  context.run();
  return ns / 1e3 / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bench::flag_set flags(argc, argv);
    const int reps = static_cast<int>(flags.get_int("reps", 5));
    const auto n = static_cast<std::size_t>(flags.get_int("n", 100'000));
    bench::table table;
    const std::string name = "round trip ×" + std::to_string(n / 1000) + "k";
    table.add(name, "coring native hop (on io, on cpu)", "µs/round trip",
              bench::repeat_one(reps, [&] { return native_hop(n); }));
    table.add(name, "asio alone: io_context → thread_pool(1) → io_context", "µs/round trip",
              bench::repeat_one(reps, [&] { return asio_hop(n); }));
    table.add(name, "use_task: co_await asio::post", "µs/round trip",
              bench::repeat_one(reps, [&] { return use_task_post(n); }), "≤ 2x native hop");
    table.add(name, "async_run from an asio::awaitable", "µs/round trip",
              bench::repeat_one(reps, [&] { return async_run_awaitable(n); }));
    std::printf("\n%d run(s) per row; 1 io thread + 1 CPU worker + 1 io_context thread\n\n", reps);
    table.print();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_interop_bench: %s\n", e.what());
    return 1;
  }
}
