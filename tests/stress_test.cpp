// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <coring/coring.hpp>
#include <vector>

using coring::runtime;
using coring::task;

namespace {

// Each task hops io -> CPU -> io and records where it ran; every one must be accounted for.
task<void> traveller(runtime& rt, std::atomic<long>& on_cpu, std::atomic<long>& back_on_io,
                     std::atomic<long>& finished) {
  co_await coring::on(rt.cpu());
  if (rt.cpu().running_in_this_thread()) on_cpu.fetch_add(1, std::memory_order_relaxed);
  co_await coring::on(rt.io());
  if (rt.io().running_in_this_thread()) back_on_io.fetch_add(1, std::memory_order_relaxed);
  finished.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// Long runs (CTest label `stress`: `ctest -L stress` runs them alone, `-LE stress` skips them).
TEST_SUITE_BEGIN("stress");

TEST_CASE("a million tasks moving between the pools are all accounted for") {
  constexpr long total = 1'000'000;
  constexpr long batch = 10'000;
  runtime rt{{.io_threads = 2, .cpu_threads = 2}};
  std::atomic<long> on_cpu{0}, back_on_io{0}, finished{0};
  auto driver = [&]() -> task<long> {
    long joined = 0;
    std::vector<coring::join_handle<void>> handles;
    handles.reserve(batch);
    for (long done = 0; done < total; done += batch) {
      for (long i = 0; i < batch; ++i) {
        handles.push_back(
            coring::spawn(i % 2 ? rt.io() : rt.cpu(), traveller(rt, on_cpu, back_on_io, finished)));
      }
      for (auto& h : handles) {
        co_await h;
        ++joined;
      }
      handles.clear();
    }
    co_return joined;
  };
  CHECK(rt.block_on(driver()) == total);
  CHECK(finished.load() == total);
  CHECK(on_cpu.load() == total);
  CHECK(back_on_io.load() == total);
  const auto m = rt.metrics();
  CHECK(m.tasks_spawned == total + 1);  // + block_on's own task, which may still be finishing
  CHECK(m.tasks_completed >= total);
  CHECK(m.tasks_alive <= 1);
}

TEST_CASE("many tasks spawned from both pools at once all complete") {
  runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  std::atomic<long> count{0};
  auto leaf = [&]() -> task<void> {
    count.fetch_add(1, std::memory_order_relaxed);
    co_return;
  };
  auto spawner = [&](coring::executor where) -> task<void> {
    co_await coring::on(where);
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 20'000; ++i) hs.push_back(coring::spawn(i % 3 ? rt.cpu() : rt.io(), leaf()));
    for (auto& h : hs) co_await h;
  };
  auto body = [&]() -> task<void> {
    auto a = coring::spawn(rt.cpu(), spawner(rt.cpu()));
    auto b = coring::spawn(rt.io(), spawner(rt.io()));
    co_await a;
    co_await b;
  };
  rt.block_on(body());
  CHECK(count.load() == 40'000);
}

TEST_SUITE_END();
