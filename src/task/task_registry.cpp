// SPDX-License-Identifier: MIT
#include "task/task_registry.hpp"

#include <cxxabi.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <typeinfo>
#include <utility>
#include <vector>

#include "coring/detail/fork_group.hpp"
#include "coring/detail/frame_allocator.hpp"
#include "coring/detail/scheduler.hpp"
#include "coring/detail/unhandled.hpp"
#include "observe/demangled.hpp"

namespace coring::detail {

namespace {

// Each thread gets its own shard (round-robin on first use), so that a worker spawning and
// completing its own tasks keeps the shard's cache line to itself.
unsigned this_thread_index() noexcept {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}

unsigned this_thread_shard(unsigned count) noexcept {
  return this_thread_index() % count;
}

// The default handler: one write per report, so that reports from several threads do not mix.
void print_unhandled(std::exception_ptr error, const char* where = nullptr) noexcept {
  try {
    const std::string place = where != nullptr ? std::string(" in ") + where : std::string();
    const std::string text = "coring: unhandled exception" + place + ": " + describe_exception(error) + "\n";
    std::fputs(text.c_str(), stderr);
  } catch (...) {
    std::fputs("coring: unhandled exception (could not describe it)\n", stderr);
  }
}

}  // namespace

// ---- which registries are alive --------------------------------------------------------------
// A join_handle may outlive its runtime. When it is dropped, an exception its task ended with and
// nobody observed must go to the runtime's handler if the runtime is still there, and to stderr if
// not: the handle's cell knows its registry only by address, which a later runtime may reuse, so a
// result box carries the registry's id, looked up here. Only that cold path takes this lock.
namespace {
struct live_registries {
  std::mutex mutex;
  std::condition_variable reports_done;
  std::uint64_t last_id = 0;
  std::vector<std::pair<std::uint64_t, task_registry*>> live;
};
live_registries& registries() {
  static live_registries* const instance = new live_registries;  // never destroyed: static teardown
  return *instance;
}
}  // namespace

task_registry::task_registry() {
  live_registries& r = registries();
  std::lock_guard lock(r.mutex);
  id_ = ++r.last_id;
  r.live.emplace_back(id_, this);
}

task_registry::~task_registry() {
  live_registries& r = registries();
  std::unique_lock lock(r.mutex);
  std::erase_if(r.live, [&](const auto& entry) { return entry.first == id_; });
  r.reports_done.wait(lock, [&] { return late_reports_ == 0; });
}

void task_registry::report_late(std::uint64_t id, std::exception_ptr error) noexcept {
  live_registries& r = registries();
  task_registry* registry = nullptr;
  {
    std::lock_guard lock(r.mutex);
    for (const auto& entry : r.live) {
      if (entry.first == id) registry = entry.second;
    }
    if (registry != nullptr) ++registry->late_reports_;
  }
  if (registry == nullptr) {
    print_unhandled(error, "a task whose runtime was already destroyed");
    return;
  }
  registry->report(std::move(error));
  std::lock_guard lock(r.mutex);
  if (--registry->late_reports_ == 0) r.reports_done.notify_all();
}

namespace {

// A tree's trace holds its links in the registry's list, so registering cannot do without one.
task_trace* make_trace() noexcept {
  try {
    return new (allocate_frame(sizeof(task_trace))) task_trace;
  } catch (...) {
    std::fputs("coring: out of memory for the registry entry of a suspending task\n", stderr);
    std::terminate();
  }
}

void free_trace(task_trace* trace) noexcept {
  trace->~task_trace();
  deallocate_frame(trace, sizeof(task_trace));
}

}  // namespace

void task_registry::add(task_cell& cell) noexcept {
  cell.shard = static_cast<std::uint8_t>(this_thread_shard(shard_count));
  shard& s = shards_[cell.shard];
  task_trace* trace = make_trace();
  trace->since_ms.store(coarse_now_ms(), std::memory_order_relaxed);
  s.lock.lock();
  trace->next = s.head;
  if (s.head != nullptr) s.head->trace->prev = &cell;
  s.head = &cell;
  cell.trace = trace;
  cell.registered = true;
  s.lock.unlock();
}

task_registry::counter_slot& task_registry::this_thread_counters() noexcept {
  return counters_[this_thread_index() % counter_slots];
}

void task_registry::bump(std::atomic<std::uint64_t>& counter) noexcept {
  if (this_thread_index() < counter_slots) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
}

void task_registry::count_spawn() noexcept {
  bump(this_thread_counters().spawned);
}

void task_registry::finish_completion() noexcept {
  if (listener_ != nullptr) {
    listener_->task_finished(*this);
  } else {
    count_completion();
  }
}

void task_registry::count_completion() noexcept {
  bump(this_thread_counters().completed);
}

void task_registry::remove(task_cell& cell) noexcept {
  shard& s = shards_[cell.shard];
  s.lock.lock();
  task_trace* trace = cell.trace;
  if (trace->prev != nullptr) {
    trace->prev->trace->next = trace->next;
  } else {
    s.head = trace->next;
  }
  if (trace->next != nullptr) trace->next->trace->prev = trace->prev;
  cell.trace = nullptr;
  cell.registered = false;
  s.lock.unlock();
  free_trace(trace);  // unlisted: no dump can reach it any more
}

void task_registry::visit_registered(const std::function<void(const task_cell&)>& visit) const {
  for (const shard& s : shards_) {
    s.lock.lock();
    try {
      for (const task_cell* cell = s.head; cell != nullptr; cell = cell->trace->next) visit(*cell);
    } catch (...) {
      s.lock.unlock();
      throw;
    }
    s.lock.unlock();
  }
}

std::size_t task_registry::destroy_all(const std::vector<work_item*>& abandoned) noexcept {
  std::size_t destroyed = 0;
  for (work_item* item : abandoned) {
    if (!is_unstarted_cell(item)) continue;  // a resume of a registered tree: destroyed below
    auto& cell = *static_cast<task_cell*>(item);
    if (cell.registry != this) continue;
    count_completion();
    destroy_unfinished(*this, cell);
    ++destroyed;
  }
  // Destroying a frame runs destructors that may spawn or drop handles: take one cell at a time
  // and repeat until a whole pass finds nothing.
  for (bool found = true; found;) {
    found = false;
    for (shard& s : shards_) {
      for (;;) {
        s.lock.lock();
        task_cell* cell = s.head;
        s.lock.unlock();
        if (cell == nullptr) break;
        found = true;
        remove(*cell);
        count_completion();
        destroy_unfinished(*this, *cell);
        ++destroyed;
      }
    }
  }
  return destroyed;
}

std::size_t task_registry::request_stop_all() noexcept {
  std::size_t asked = 0;
  for (shard& s : shards_) {
    // Under the shard's lock a listed cell cannot finish (complete_root removes it first), so it
    // stays alive while its stop hooks run. Those only post work (cancellations, wake-ups) and
    // never complete a runtime task on this thread, so they never come back to this lock.
    s.lock.lock();
    for (task_cell* cell = s.head; cell != nullptr; cell = cell->trace->next) {
      if (cell->scope.stop_requested()) continue;
      cell->scope.request_stop();
      ++asked;
    }
    s.lock.unlock();
  }
  return asked;
}

void pass_destroy_exception(std::exception_ptr error) noexcept {
  frame_destruction* outer = destroying_frame;
  if (outer != nullptr) {
    if (!outer->error) outer->error = std::move(error);  // the frame around it reports it
    return;
  }
  print_unhandled(std::move(error), "the destructor of a suspended task's local");
}

void task_registry::set_exception_handler(exception_handler handler) {
  auto shared = handler ? std::make_shared<const exception_handler>(std::move(handler)) : nullptr;
  std::lock_guard lock(handler_mutex_);
  handler_ = std::move(shared);
}

void task_registry::report(std::exception_ptr error) noexcept {
  std::shared_ptr<const exception_handler> handler;
  {
    std::lock_guard lock(handler_mutex_);
    handler = handler_;
  }
  if (handler == nullptr) {
    print_unhandled(error);
    return;
  }
  try {
    (*handler)(error);
  } catch (...) {
    print_unhandled(std::current_exception());
  }
}

std::uint64_t task_registry::spawned() const noexcept {
  std::uint64_t total = 0;
  for (const counter_slot& c : counters_) total += c.spawned.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t task_registry::completed() const noexcept {
  std::uint64_t total = 0;
  for (const counter_slot& c : counters_) total += c.completed.load(std::memory_order_relaxed);
  return total;
}

}  // namespace coring::detail

namespace coring::detail {

void report_unhandled(task_registry* registry, std::exception_ptr error) noexcept {
  if (registry != nullptr) {
    registry->report(std::move(error));
  } else {
    print_unhandled(std::move(error));
  }
}

void report_unhandled(scheduler* where, std::exception_ptr error) noexcept {
  report_unhandled(where != nullptr ? where->registry() : nullptr, std::move(error));
}

bool is_cancellation(const std::exception_ptr& error) noexcept {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return e.code() == std::errc::operation_canceled;
  } catch (...) {
  }
  return false;
}

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return demangled(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return (type != nullptr ? demangled(type->name()) : std::string("?")) + ": unknown exception";
  }
}

}  // namespace coring::detail
