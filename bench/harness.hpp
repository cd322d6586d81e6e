// SPDX-License-Identifier: MIT
// A small benchmark harness shared by the programs under bench/.
//
//  * flags:        --name=value / --name command-line flags (flag_set).
//  * repetition:   repeat(reps, fn) runs fn reps times and summarizes the doubles it returns
//                  (min / median / max), one summary per metric.
//  * measurements: wall clock (stopwatch), process CPU time (getrusage utime + stime, all threads),
//                  peak RSS (ru_maxrss), current RSS (/proc/self/statm), heap in use (mallinfo2).
//  * isolation:    run_in_child(fn) forks, runs fn in the child, sends the doubles it returns back
//                  through a pipe and waitpid()s. Peak RSS is a per-process high-water mark, so
//                  every run that reports memory needs a fresh process.
//  * output:       table, a GitHub-markdown table of
//                  | benchmark | impl | metric | min | median | max | target |.
//
// fork() and threads: a forked child holds a copy of only the forking thread. If any other thread
// had been running in the parent, it may have held a lock (malloc's, stdio's, a runtime's) that
// stays locked forever in the child. So the parent process must not start threads before it forks:
// a program that uses run_in_child keeps its parent single-threaded and does all threaded work
// (thread pools, runtimes) inside children.
//
// Header-only; Linux only.
#pragma once

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bench {

// ---------------------------------------------------------------------------------------------
// Flags

/// Parses "--name=value" and "--name" (value "1"); anything else is an error.
class flag_set {
 public:
  flag_set(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg.substr(0, 2) != "--") throw std::invalid_argument("unexpected argument: " + std::string(arg));
      arg.remove_prefix(2);
      const auto eq = arg.find('=');
      if (eq == std::string_view::npos) {
        values_[std::string(arg)] = "1";
      } else {
        values_[std::string(arg.substr(0, eq))] = std::string(arg.substr(eq + 1));
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) != 0; }

  std::string get(const std::string& name, const std::string& fallback) const {
    used_.push_back(name);
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

  long long get_int(const std::string& name, long long fallback) const {
    const std::string v = get(name, "");
    if (v.empty()) return fallback;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);  // accepts 1e6 as well as 1000000
    if (end == v.c_str() || *end != '\0')
      throw std::invalid_argument("--" + name + " wants a number, got " + v);
    return static_cast<long long>(d);
  }

  bool get_bool(const std::string& name) const {
    const std::string v = get(name, "0");
    return v != "0" && v != "false" && v != "no";
  }

  /// "--only=a,b" -> {"a","b"}; empty when the flag is absent.
  std::vector<std::string> get_list(const std::string& name) const {
    std::vector<std::string> out;
    const std::string v = get(name, "");
    std::size_t start = 0;
    while (start <= v.size() && !v.empty()) {
      const auto comma = v.find(',', start);
      const std::string item =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }

  /// Flags that were given but never asked for (typos); call after reading every flag.
  std::vector<std::string> unknown() const {
    std::vector<std::string> out;
    for (const auto& [name, value] : values_) {
      if (std::find(used_.begin(), used_.end(), name) == used_.end()) out.push_back(name);
    }
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
  mutable std::vector<std::string> used_;
};

// ---------------------------------------------------------------------------------------------
// Measurements

/// Wall-clock stopwatch on steady_clock.
class stopwatch {
 public:
  stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  void restart() noexcept { start_ = std::chrono::steady_clock::now(); }
  double elapsed_ns() const noexcept {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_).count();
  }
  double elapsed_ms() const noexcept { return elapsed_ns() / 1e6; }
  double elapsed_s() const noexcept { return elapsed_ns() / 1e9; }

 private:
  std::chrono::steady_clock::time_point start_;
};

/// CPU time used by the whole process so far (user + system, every thread), in nanoseconds.
inline double process_cpu_ns() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto to_ns = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e9 + tv.tv_usec * 1e3;
  };
  return to_ns(ru.ru_utime) + to_ns(ru.ru_stime);
}

/// Highest resident set size this process has had, in bytes (ru_maxrss is in KiB on Linux).
inline double peak_rss_bytes() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0;
}

/// Resident set size now, in bytes (second field of /proc/self/statm, in pages).
inline double current_rss_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int got = std::fscanf(f, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(f);
  if (got != 2) return -1;
  return static_cast<double>(resident_pages) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

/// Bytes the C heap (every malloc arena, plus mmap'ed big blocks) has handed out and not yet
/// taken back (glibc mallinfo2: uordblks + hblkhd). The delta around creating n objects, over n,
/// is their heap footprint including malloc's per-block overhead: operator new, aligned_alloc and
/// the coroutine-frame allocators of Asio and coring all end up in malloc.
inline double heap_in_use_bytes() noexcept {
  const struct mallinfo2 mi = ::mallinfo2();
  return static_cast<double>(mi.uordblks) + static_cast<double>(mi.hblkhd);
}

constexpr double mib = 1024.0 * 1024.0;

/// The same n timer delays for every implementation: uniform 1..100 ms from a fixed seed.
inline std::vector<int> timer_delays_ms(std::size_t n, std::uint32_t seed = 42) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(1, 100);
  std::vector<int> out(n);
  for (auto& d : out) d = dist(gen);
  return out;
}

/// Stops the program with a message; benchmarks use it for failed sanity checks.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "bench: FAILED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

/// Confines the calling thread (and every thread it starts later) to the first `cpus` CPUs of its
/// affinity mask. Call in a benchmark's child process before it starts any thread.
inline void confine_to_cpus(unsigned cpus) {
  cpu_set_t have;
  CPU_ZERO(&have);
  if (::sched_getaffinity(0, sizeof have, &have) != 0) fail("sched_getaffinity failed");
  cpu_set_t want;
  CPU_ZERO(&want);
  unsigned taken = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && taken < cpus; ++cpu) {
    if (CPU_ISSET(cpu, &have)) {
      CPU_SET(cpu, &want);
      ++taken;
    }
  }
  if (taken < cpus) fail("confine_to_cpus: the process has fewer CPUs than asked for");
  if (::sched_setaffinity(0, sizeof want, &want) != 0) fail("sched_setaffinity failed");
}

// ---------------------------------------------------------------------------------------------
// Repetition and statistics

struct summary {
  double min = 0;
  double median = 0;
  double max = 0;
  std::size_t samples = 0;
};

inline summary summarize(std::vector<double> v) {
  summary s;
  s.samples = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const std::size_t mid = v.size() / 2;
  s.median = v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return s;
}

/// Runs fn() reps times; fn returns the metrics of one run as a std::vector<double> (the same
/// count every time). Returns one summary per metric.
template <class Fn>
std::vector<summary> repeat(int reps, Fn&& fn) {
  std::vector<std::vector<double>> per_metric;
  for (int r = 0; r < reps; ++r) {
    std::vector<double> m = fn();
    if (per_metric.empty()) per_metric.resize(m.size());
    if (m.size() != per_metric.size()) throw std::logic_error("repeat: metric count changed between runs");
    for (std::size_t i = 0; i < m.size(); ++i) per_metric[i].push_back(m[i]);
  }
  std::vector<summary> out;
  for (auto& samples : per_metric) out.push_back(summarize(std::move(samples)));
  return out;
}

/// Runs a single-metric fn() (returning double) reps times.
template <class Fn>
summary repeat_one(int reps, Fn&& fn) {
  auto all = repeat(reps, [&] { return std::vector<double>{static_cast<double>(fn())}; });
  return all.empty() ? summary{} : all.front();
}

// ---------------------------------------------------------------------------------------------
// Running in a child process

/// The child did not deliver its result: it crashed, aborted, timed out, or threw.
struct child_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

inline bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace detail

/// Runs fn() in a fresh child process (fork) and returns the doubles it returned.
///
/// fn returns std::vector<double>. The child sends them through a pipe and leaves with _exit(), so
/// it runs no atexit handlers and flushes no copy of the parent's stdio buffers. The parent waits
/// for the child with waitpid(); a child that throws, crashes, aborts or outlives timeout_s
/// (SIGALRM) makes run_in_child throw child_failed.
///
/// Precondition: the calling process runs only one thread (see the note at the top of this file).
template <class Fn>
std::vector<double> run_in_child(Fn&& fn, unsigned timeout_s = 300) {
  std::fflush(nullptr);  // nothing buffered may be written twice
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(timeout_s);
    char status = 0;
    std::vector<double> values;
    std::string message;
    try {
      values = fn();
    } catch (const std::exception& e) {
      status = 1;
      message = e.what();
    } catch (...) {
      status = 1;
      message = "unknown exception";
    }
    std::fflush(nullptr);
    bool ok = detail::write_all(fds[1], &status, 1);
    if (status == 0) {
      const std::uint64_t count = values.size();
      ok = ok && detail::write_all(fds[1], &count, sizeof count) &&
           detail::write_all(fds[1], values.data(), values.size() * sizeof(double));
    } else {
      ok = ok && detail::write_all(fds[1], message.data(), message.size());
    }
    ::close(fds[1]);
    ::_exit(ok ? 0 : 3);
  }

  ::close(fds[1]);
  const std::string bytes = detail::read_all(fds[0]);
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(wstatus)) {
    const int sig = WTERMSIG(wstatus);
    throw child_failed(std::string("child killed by signal ") + std::to_string(sig) + " (" +
                       ::strsignal(sig) + (sig == SIGALRM ? ", timed out" : "") + ")");
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0 || bytes.empty()) {
    throw child_failed("child exited with status " + std::to_string(WEXITSTATUS(wstatus)));
  }
  if (bytes[0] != 0) throw child_failed("child threw: " + bytes.substr(1));
  std::uint64_t count = 0;
  if (bytes.size() < 1 + sizeof count) throw child_failed("child sent a short result");
  std::memcpy(&count, bytes.data() + 1, sizeof count);
  if (bytes.size() != 1 + sizeof count + count * sizeof(double))
    throw child_failed("child sent a short result");
  std::vector<double> values(count);
  std::memcpy(values.data(), bytes.data() + 1 + sizeof count, count * sizeof(double));
  return values;
}

// ---------------------------------------------------------------------------------------------
// Output

/// Formats a value with a sensible number of digits for a table cell.
inline std::string format_value(double v) {
  char buf[64];
  const double a = v < 0 ? -v : v;
  if (a >= 1000 || a == 0) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (a >= 100) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else if (a >= 1) {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", v);
  }
  return buf;
}

/// Rows of | benchmark | impl | metric | min | median | max | target |, printed as a GitHub
/// markdown table.
class table {
 public:
  void add(std::string benchmark, std::string impl, std::string metric, const summary& s,
           std::string target = "") {
    rows_.push_back({std::move(benchmark), std::move(impl), std::move(metric), format_value(s.min),
                     format_value(s.median), format_value(s.max), target.empty() ? "—" : std::move(target)});
  }
  /// A row for a run that produced no figures (the cells say why).
  void add_failed(std::string benchmark, std::string impl, std::string metric, std::string why) {
    rows_.push_back({std::move(benchmark), std::move(impl), std::move(metric), "FAILED", why, "", ""});
  }

  void print(std::FILE* out = stdout) const {
    static const char* const header[] = {"benchmark", "impl", "metric", "min", "median", "max", "target"};
    std::size_t width[7];
    for (int c = 0; c < 7; ++c) width[c] = display_width(header[c]);
    for (const auto& row : rows_) {
      for (int c = 0; c < 7; ++c) width[c] = std::max(width[c], display_width(row[c]));
    }
    const auto line = [&](const auto& cells) {
      std::fputs("|", out);
      for (int c = 0; c < 7; ++c) {
        const std::string cell = cells[c];
        const bool right = c >= 3 && c <= 5;
        const std::size_t pad = width[c] - display_width(cell);
        std::fprintf(out, " %s%s%s |", right ? std::string(pad, ' ').c_str() : "", cell.c_str(),
                     right ? "" : std::string(pad, ' ').c_str());
      }
      std::fputs("\n", out);
    };
    line(header);
    std::fputs("|", out);
    for (int c = 0; c < 7; ++c) {
      const bool right = c >= 3 && c <= 5;
      std::fprintf(out, " %s%s |", std::string(width[c] - (right ? 1 : 0), '-').c_str(), right ? ":" : "");
    }
    std::fputs("\n", out);
    for (const auto& row : rows_) line(row);
    std::fflush(out);
  }

 private:
  // Counts code points, not bytes, so that "µs" and "—" line up.
  static std::size_t display_width(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80 ? 1 : 0;
    return n;
  }

  std::vector<std::array<std::string, 7>> rows_;
};

}  // namespace bench
