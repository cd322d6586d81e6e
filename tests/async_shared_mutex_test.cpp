// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <coring/async_shared_mutex.hpp>
#include <coring/coring.hpp>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coring::async_shared_mutex;
using coring::runtime;
using coring::task;
using coring_test::block_until;
using coring_test::by_hand;

namespace {

task<void> write_then_note(async_shared_mutex& m, std::vector<int>& order, int id) {
  auto guard = co_await m.lock();
  order.push_back(id);
}

task<void> read_then_note(async_shared_mutex& m, std::vector<int>& order, int id) {
  auto guard = co_await m.lock_shared();
  order.push_back(id);
}

}  // namespace

TEST_CASE("async_shared_mutex lets readers share it and a writer exclude everyone") {
  async_shared_mutex m;
  CHECK(m.try_lock_shared());
  CHECK(m.try_lock_shared());
  CHECK_FALSE(m.try_lock());
  m.unlock_shared();
  m.unlock_shared();
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  CHECK_FALSE(m.try_lock_shared());
  m.unlock();
  REQUIRE(m.try_lock_shared());
  {
    async_shared_mutex::shared_guard g{m, std::adopt_lock};
    CHECK(g.owns_lock());
    CHECK_FALSE(m.try_lock());
  }
  CHECK(m.try_lock());  // the guard released its shared lock
  m.unlock();
}

TEST_CASE("a reader that comes while a writer waits waits behind it (writer preference)") {
  async_shared_mutex m;
  std::vector<int> order;
  REQUIRE(m.try_lock_shared());  // an early reader holds it
  by_hand writer(write_then_note(m, order, 1));
  CHECK_FALSE(writer.done());
  by_hand reader(read_then_note(m, order, 2));
  CHECK_FALSE(reader.done());        // not let in beside the first reader
  CHECK_FALSE(m.try_lock_shared());  // nor is try_lock_shared
  CHECK_FALSE(m.try_lock());
  m.unlock_shared();  // the writer goes first, then the reader
  CHECK(writer.done());
  CHECK(reader.done());
  CHECK(order == std::vector<int>{1, 2});
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("async_shared_mutex hands itself to waiting writers in FIFO order, then to all waiting readers") {
  async_shared_mutex m;
  std::vector<int> order;
  REQUIRE(m.try_lock());
  by_hand r1(read_then_note(m, order, 10));  // a reader parked before any writer
  by_hand w1(write_then_note(m, order, 1));
  by_hand w2(write_then_note(m, order, 2));
  by_hand r2(read_then_note(m, order, 11));
  by_hand w3(write_then_note(m, order, 3));
  m.unlock();
  CHECK(order == std::vector<int>{1, 2, 3, 10, 11});
  CHECK(w3.done());
  CHECK(r1.done());
  CHECK(r2.done());
}

TEST_CASE("readers released together share the mutex at once") {
  runtime rt{coring_test::small_runtime()};
  async_shared_mutex m;
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  REQUIRE(m.try_lock());
  auto reader = [&]() -> task<void> {
    auto g = co_await m.lock_shared();
    const int now = inside.fetch_add(1) + 1;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    co_await coring_test::wait_until([&] { return most.load() == 4; });  // all four in at once
    inside.fetch_sub(1);
  };
  std::vector<coring::join_handle<void>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(coring::spawn(i % 2 ? rt.cpu() : rt.io(), reader()));
  std::this_thread::sleep_for(20ms);
  CHECK(inside.load() == 0);
  m.unlock();
  auto join = [&]() -> task<void> {
    for (auto& h : hs) co_await h;
  };
  rt.block_on(join());
  CHECK(most.load() == 4);
}

TEST_CASE("a canceled waiting writer lets in the readers it held back") {
  runtime rt{coring_test::small_runtime()};
  for (auto ex : {rt.io(), rt.cpu()}) {
    async_shared_mutex m;
    REQUIRE(m.try_lock_shared());
    std::atomic<bool> reader_in{false};
    auto writer =
        coring::spawn(ex, [](async_shared_mutex& mu) -> task<void> { auto g = co_await mu.lock(); }(m));
    std::this_thread::sleep_for(20ms);  // parks
    auto reader = coring::spawn(ex, [](async_shared_mutex& mu, std::atomic<bool>& in) -> task<void> {
      auto g = co_await mu.lock_shared();
      in.store(true);
    }(m, reader_in));
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(reader_in.load());  // behind the writer
    writer.cancel();
    block_until([&] { return reader_in.load(); });
    auto join = [&]() -> task<bool> {
      bool writer_canceled = false;
      try {
        co_await writer;
      } catch (const std::system_error& e) {
        writer_canceled = e.code() == std::errc::operation_canceled;
      }
      co_await reader;
      co_return writer_canceled;
    };
    CHECK(rt.block_on(join()));
    m.unlock_shared();
    CHECK(m.try_lock());  // nothing left held
    m.unlock();
  }
}

TEST_CASE("async_shared_mutex under contention from both pools: writers alone, readers never beside one") {
  runtime rt{coring_test::small_runtime()};
  async_shared_mutex m;
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};
  std::atomic<int> violations{0};
  long counter = 0;  // written under the exclusive lock only
  auto writer = [&]() -> task<void> {
    for (int i = 0; i < 50; ++i) {
      auto g = co_await m.lock();
      if (writers.fetch_add(1) != 0 || readers.load() != 0) violations.fetch_add(1);
      ++counter;
      if (i % 8 == 0) co_await coring::yield();
      writers.fetch_sub(1);
    }
  };
  auto reader = [&]() -> task<void> {
    for (int i = 0; i < 50; ++i) {
      auto g = co_await m.lock_shared();
      readers.fetch_add(1);
      if (writers.load() != 0) violations.fetch_add(1);
      if (i % 4 == 0) co_await coring::yield();
      readers.fetch_sub(1);
    }
  };
  auto body = [&]() -> task<void> {
    std::vector<coring::join_handle<void>> hs;
    for (int i = 0; i < 8; ++i) {
      const auto ex = i % 2 ? rt.cpu() : rt.io();
      hs.push_back(coring::spawn(ex, i < 4 ? writer() : reader()));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(body());
  CHECK(violations.load() == 0);
  CHECK(counter == 200);
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("shutdown destroys tasks parked on an async_shared_mutex") {
  coring_test::counted::alive = 0;
  async_shared_mutex m;
  REQUIRE(m.try_lock());
  std::atomic<int> waiting{0};
  {
    runtime rt{coring_test::small_runtime()};
    auto parked = [&](coring_test::counted, bool shared) -> task<void> {
      waiting.fetch_add(1);
      if (shared) {
        auto g = co_await m.lock_shared();
      } else {
        auto g = co_await m.lock();
      }
      FAIL("a parked task was resumed");
    };
    for (int i = 0; i < 4; ++i) coring::spawn(i % 2 ? rt.cpu() : rt.io(), parked({}, i < 2)).detach();
    block_until([&] { return waiting.load() == 4; });
    std::this_thread::sleep_for(10ms);
  }
  CHECK(coring_test::counted::alive.load() == 0);
  m.unlock();
  CHECK(m.try_lock_shared());  // the destroyed waiters left the lists
  m.unlock_shared();
}

TEST_CASE("an async_shared_mutex may be destroyed as soon as its waiter got it from another thread") {
  for (int i = 0; i < 300; ++i) {
    auto* m = new async_shared_mutex;
    REQUIRE(m->try_lock_shared());
    {
      std::atomic<bool> got{false};
      by_hand writer([](async_shared_mutex& mu, std::atomic<bool>& g) -> task<void> {
        auto guard = co_await mu.lock();
        g.store(true);
      }(*m, got));
      std::thread unlocker([m] { m->unlock_shared(); });
      unlocker.join();
      REQUIRE(writer.done());
      CHECK(got.load());
    }
    std::thread unlocker2;
    REQUIRE(m->try_lock_shared());
    unlocker2 = std::thread([m] { m->unlock_shared(); });
    while (!m->try_lock()) std::this_thread::yield();
    delete m;  // the unlock that freed it may still be on its way out
    unlocker2.join();
  }
}
