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

TEST_CASE("a full deque refuses a push instead of overwriting") {
  work_stealing_deque q;
  std::vector<work_item> items(work_stealing_deque::capacity + 1);
  for (std::int64_t i = 0; i < work_stealing_deque::capacity; ++i) REQUIRE(q.push(&items[i]));
  CHECK_FALSE(q.push(&items.back()));
  work_item* last = nullptr;
  work_item* first = q.take_oldest(10, last);
  CHECK(first == &items[0]);
  CHECK(q.size() == work_stealing_deque::capacity - 10);
  CHECK(q.push(&items.back()));
}

TEST_CASE("every item pushed is taken exactly once by the owner or by one of the thieves") {
  constexpr int n = 200'000;
  work_stealing_deque q;
  std::vector<work_item> items(n);
  std::vector<std::atomic<int>> taken(n);
  std::atomic<bool> done{false};
  auto index_of = [&](work_item* w) { return static_cast<int>(w - items.data()); };
  std::vector<std::thread> thieves;
  for (int t = 0; t < 2; ++t) {
    thieves.emplace_back([&] {
      while (!done.load()) {
        if (work_item* w = q.steal()) taken[index_of(w)].fetch_add(1);
      }
    });
  }
  int pushed = 0;
  while (pushed < n) {
    if (q.push(&items[pushed])) {
      ++pushed;
      if (pushed % 3 == 0) {
        if (work_item* w = q.pop()) taken[index_of(w)].fetch_add(1);
      }
    } else if (work_item* w = q.pop()) {
      taken[index_of(w)].fetch_add(1);
    }
  }
  while (work_item* w = q.pop()) taken[index_of(w)].fetch_add(1);
  done = true;
  for (auto& t : thieves) t.join();
  while (work_item* w = q.steal()) taken[index_of(w)].fetch_add(1);
  int wrong = 0;
  for (auto& c : taken) wrong += c.load() != 1;
  CHECK(wrong == 0);
}
