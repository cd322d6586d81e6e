// SPDX-License-Identifier: MIT
// Printing task dumps and stall reports, and reading a tree's trace into a task_dump::tree.
#include "observe/task_dump.hpp"

#include <cstdlib>
#include <ostream>
#include <sstream>
#include <string_view>

#include "observe/demangled.hpp"

namespace coring {

namespace {

/// g++ names a coroutine's body "void f(f(args)::_Z...Frame*)" (its return type is the body's,
/// not the coroutine's): show "f" instead.
std::string_view readable_function(std::string_view name) {
  if (name.size() < 7 || name.substr(name.size() - 7) != "Frame*)") return name;
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    if (name[i] == '(' && --depth == 0) {
      std::string_view body = name.substr(0, i);
      if (body.starts_with("void ")) body.remove_prefix(5);
      return body;
    }
  }
  return name;
}

}  // namespace

std::string to_string(const std::source_location& where) {
  if (where.line() == 0 && *where.file_name() == '\0') return "?";
  std::string text = where.file_name();
  text += ':';
  text += std::to_string(where.line());
  const std::string_view function = readable_function(where.function_name());
  if (!function.empty()) {
    text += " (";
    text += function;
    text += ')';
  }
  return text;
}

std::string to_string(const stall_report& report) {
  std::string text = "coring: stall: " + report.thread + " has run one task for " +
                     std::to_string(report.duration.count()) + " ms (threshold " +
                     std::to_string(report.threshold.count()) + " ms)";
  text += "; task spawned at " + to_string(report.spawned_at);
  if (report.resumed_at.line() != 0) {
    text += ", running since its co_await at " + to_string(report.resumed_at);
  } else {
    text += ", not resumed from a co_await yet";
  }
  return text;
}

std::ostream& operator<<(std::ostream& out, const task_dump& dump) {
  out << "coring: task dump: " << dump.unfinished << " unfinished task(s), " << dump.trees.size()
      << " tree(s) that have waited:\n";
  for (const task_dump::tree& t : dump.trees) {
    out << "task spawned at " << to_string(t.spawned_at) << ": ";
    if (!t.running_on.empty()) {
      out << "running on " << t.running_on << "\n";
    } else {
      out << "suspended";
      if (t.waiting_for) out << " for " << t.waiting_for->count() << " ms";
      out << ", waiting for " << t.wait << "\n";
    }
    for (std::size_t i = 0; i < t.frames.size(); ++i) {
      out << std::string(2 * (i + 1), ' ') << (i + 1 == t.frames.size() ? "waits at " : "awaits at ")
          << to_string(t.frames[i]) << "\n";
    }
  }
  out << "threads:\n";
  for (const task_dump::thread& th : dump.threads) {
    out << "  " << th.name << ": ";
    if (!th.running) {
      out << "idle\n";
    } else {
      out << "running a task spawned at " << to_string(th.spawned_at);
      if (th.resumed_at.line() != 0) out << ", resumed at " << to_string(th.resumed_at);
      out << "\n";
    }
  }
  return out;
}

namespace detail {

std::string describe_wait(const char* kind, int fd, std::uint64_t until_ns, const std::type_info* awaiter,
                          std::uint64_t now_ns) {
  std::string text = kind != nullptr      ? std::string(kind)
                     : awaiter != nullptr ? detail::demangled(awaiter->name())
                                          : std::string("?");
  if (fd >= 0) text += " on fd " + std::to_string(fd);
  if (until_ns != 0) {
    if (until_ns >= now_ns) {
      text += " (due in " + std::to_string((until_ns - now_ns) / 1000000) + " ms)";
    } else {
      text += " (due " + std::to_string((now_ns - until_ns) / 1000000) + " ms ago)";
    }
  }
  return text;
}

task_dump::tree read_trace(const task_trace& trace, std::source_location spawned_at, std::uint64_t now_ms,
                           std::uint64_t now_ns) {
  task_dump::tree t;
  t.spawned_at = spawned_at;
  if (const thread_watch* on = trace.running_on.load(std::memory_order_relaxed)) {
    t.running_on = *on->name != '\0' ? on->name : "a thread outside the runtime";
  } else {
    const std::uint64_t since = trace.since_ms.load(std::memory_order_relaxed);
    if (now_ms != 0) t.waiting_for = std::chrono::milliseconds(now_ms > since ? now_ms - since : 0);
  }
  const unsigned depth = trace.depth.load(std::memory_order_relaxed);
  const unsigned shown = depth < task_trace::max_depth ? depth + 1 : task_trace::max_depth;
  t.frames.reserve(shown);
  for (unsigned i = 0; i < shown; ++i) t.frames.push_back(trace.sites[i].load(std::memory_order_relaxed));
  t.wait = describe_wait(trace.kind.load(std::memory_order_relaxed), trace.fd.load(std::memory_order_relaxed),
                         trace.until_ns.load(std::memory_order_relaxed),
                         trace.awaiter.load(std::memory_order_relaxed), now_ns);
  return t;
}

task_dump::thread read_watch(const thread_watch& watch) {
  task_dump::thread th;
  th.name = watch.name;
  th.running = watch.depth.load(std::memory_order_relaxed) > 0;
  if (th.running) {
    th.spawned_at = watch.spawn_site.load(std::memory_order_relaxed);
    th.resumed_at = watch.await_site.load(std::memory_order_relaxed);
  }
  return th;
}

}  // namespace detail

}  // namespace coring
