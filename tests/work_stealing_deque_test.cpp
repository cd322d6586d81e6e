// SPDX-License-Identifier: MIT
#include "scheduler/work_stealing_deque.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using coring::detail::work_item;
using coring::detail::work_stealing_deque;

TEST_CASE("the deque's owner pops in LIFO order and thieves steal in FIFO order") {
  work_stealing_deque q;
  work_item items[3];
  for (auto& it : items) REQUIRE(q.push(&it));
  CHECK(q.steal() == &items[0]);
  CHECK(q.pop() == &items[2]);
  CHECK(q.pop() == &items[1]);
  CHECK(q.pop() == nullptr);
  CHECK(q.steal() == nullptr);
}

TEST_CASE("a thief takes at most half of the deque, and at most max_steal items, oldest first") {
  work_stealing_deque q;
  std::vector<work_item> items(100);
  work_item* out[work_stealing_deque::max_steal];
  for (int i = 0; i < 5; ++i) REQUIRE(q.push(&items[i]));
  REQUIRE(q.steal(out, work_stealing_deque::max_steal) == 3);  // half of 5, rounded up
  CHECK(out[0] == &items[0]);
  CHECK(out[2] == &items[2]);
  CHECK(q.size() == 2);
  REQUIRE(q.steal(out, work_stealing_deque::max_steal) == 1);
  CHECK(out[0] == &items[3]);
  REQUIRE(q.steal(out, work_stealing_deque::max_steal) == 1);
  CHECK(out[0] == &items[4]);
  CHECK(q.steal(out, work_stealing_deque::max_steal) == 0);
  for (int i = 5; i < 100; ++i) REQUIRE(q.push(&items[i]));
  CHECK(q.steal(out, work_stealing_deque::max_steal) == work_stealing_deque::max_steal);
  CHECK(out[0] == &items[5]);
  CHECK(q.steal(out, 2) == 2);
  CHECK(out[1] == &items[5 + work_stealing_deque::max_steal + 1]);
  CHECK(q.pop() == &items[99]);
}

TEST_CASE("a full deque grows and keeps every item in order") {
  work_stealing_deque q;
  const std::int64_t first_capacity = q.capacity();
  const std::int64_t n = 4 * first_capacity + 3;
  std::vector<work_item> items(static_cast<std::size_t>(n));
  CHECK(q.steal() == nullptr);
  for (std::int64_t i = 0; i < n; ++i) REQUIRE(q.push(&items[i]));
  CHECK(q.capacity() >= n);
  CHECK(q.size() == n);
  CHECK(q.steal() == &items[0]);
  CHECK(q.pop() == &items[n - 1]);
  for (std::int64_t i = 1; i < n / 2; ++i) REQUIRE(q.steal() == &items[i]);
  for (std::int64_t i = n - 2; i >= n / 2; --i) REQUIRE(q.pop() == &items[i]);
  CHECK(q.pop() == nullptr);
  CHECK(q.steal() == nullptr);
}

namespace {

// n items, a deque, and two thieves that steal (one at a time or in batches) until stopped;
// counts how often each item was taken.
struct theft_check {
  static constexpr int n = 200'000;
  work_stealing_deque q;
  std::vector<work_item> items = std::vector<work_item>(n);
  std::vector<std::atomic<int>> taken = std::vector<std::atomic<int>>(n);
  std::atomic<bool> done{false};
  std::vector<std::thread> thieves;

  void take(work_item* w) { taken[static_cast<std::size_t>(w - items.data())].fetch_add(1); }

  void start_thieves(std::size_t batch) {
    for (int t = 0; t < 2; ++t) {
      thieves.emplace_back([this, batch] {
        work_item* out[work_stealing_deque::max_steal];
        while (!done.load()) {
          const std::size_t got = q.steal(out, batch);
          for (std::size_t i = 0; i < got; ++i) take(out[i]);
        }
      });
    }
  }

  /// Stops the thieves, drains the deque, and says how many items were not taken exactly once.
  int wrong() {
    done = true;
    for (auto& t : thieves) t.join();
    while (work_item* w = q.pop()) take(w);
    int count = 0;
    for (auto& c : taken) count += c.load() != 1;
    return count;
  }
};

}  // namespace

TEST_CASE("thieves take every item exactly once while the owner's deque grows under them") {
  theft_check check;
  // Two growths before the thieves start (so they steal from a replaced buffer's successor), and
  // more while they steal: pushing is far faster than stealing, so the deque keeps growing.
  const std::int64_t first_capacity = check.q.capacity();
  int pushed = 0;
  for (; pushed < 3 * first_capacity; ++pushed) REQUIRE(check.q.push(&check.items[pushed]));
  CHECK(check.q.capacity() >= 4 * first_capacity);
  check.start_thieves(1);
  for (; pushed < theft_check::n; ++pushed) REQUIRE(check.q.push(&check.items[pushed]));
  CHECK(check.wrong() == 0);
}

TEST_CASE("batch thieves and a popping owner take every item exactly once") {
  // The owner pops as often as it pushes, so the deque stays short and its pops race with the
  // thieves' claims near the top, where a claim may reach below the bottom the owner just set.
  theft_check check;
  check.start_thieves(work_stealing_deque::max_steal);
  for (int pushed = 0; pushed < theft_check::n;) {
    const int burst = 1 + pushed % 40;  // 1..40 items, then pop about as many
    for (int i = 0; i < burst && pushed < theft_check::n; ++i) REQUIRE(check.q.push(&check.items[pushed++]));
    for (int i = 0; i < burst; ++i) {
      if (work_item* w = check.q.pop()) check.take(w);
    }
  }
  CHECK(check.wrong() == 0);
}

TEST_CASE("every item pushed is taken exactly once by the owner or by one of the thieves") {
  theft_check check;
  check.start_thieves(1);
  for (int pushed = 0; pushed < theft_check::n;) {
    REQUIRE(check.q.push(&check.items[pushed]));
    ++pushed;
    if (pushed % 3 == 0) {
      if (work_item* w = check.q.pop()) check.take(w);
    }
  }
  CHECK(check.wrong() == 0);
}
