// SPDX-License-Identifier: MIT
// word_count: counts the lines, words and bytes of files, like `wc`, to show how a coring task
// moves between the runtime's two pools.
//
// Each file gets its own task, spawned on the io pool. The task
//   1. opens the file and reads it through the io_uring in 64 KiB chunks (file::open, read_at),
//   2. moves to the CPU pool with `co_await coring::on(rt.cpu())` to count (computation),
//   3. moves back with `co_await coring::on(rt.io())`, closes the file through the ring and
//      writes up its report.
// Each output line says which pool and thread ran each step.
//
//   build/release/examples/word_count FILE...      (or: bash scripts/demo.sh)
#include <algorithm>
#include <cctype>
#include <coring/coring.hpp>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

struct counts {
  std::uint64_t lines = 0;
  std::uint64_t words = 0;
  std::uint64_t bytes = 0;

  counts& operator+=(const counts& other) {
    lines += other.lines;
    words += other.words;
    bytes += other.bytes;
    return *this;
  }
};

/// What one file's task found out, and where each of its steps ran.
struct file_report {
  std::string path;
  std::error_code error;  // set when the file could not be opened or read
  counts found;
  std::string read_on;
  std::string counted_on;
  std::string reported_on;
};

/// Small, stable thread numbers (1, 2, ... in order of first use): easier to read than thread ids.
int thread_number() {
  static std::mutex mutex;
  static std::map<std::thread::id, int> numbers;
  const std::lock_guard lock(mutex);
  return numbers.try_emplace(std::this_thread::get_id(), static_cast<int>(numbers.size()) + 1).first->second;
}

/// "io thread 1" or "cpu thread 3": the pool and thread the caller runs on.
std::string where(const coring::runtime& rt) {
  const char* pool = rt.io().running_in_this_thread()    ? "io"
                     : rt.cpu().running_in_this_thread() ? "cpu"
                                                         : "other";
  return std::string(pool) + " thread " + std::to_string(thread_number());
}

/// Counts like wc: lines are newlines, words are runs of non-space characters.
counts count(std::string_view text) {
  counts c;
  c.bytes = text.size();
  bool in_word = false;
  for (const char ch : text) {
    if (ch == '\n') ++c.lines;
    const bool space = std::isspace(static_cast<unsigned char>(ch)) != 0;
    if (!space && !in_word) ++c.words;
    in_word = !space;
  }
  return c;
}

/// The task spawned for each file, on the io pool.
coring::task<file_report> count_file(const coring::runtime& rt, std::string path) {
  file_report report;
  report.path = path;

  // 1. On the io pool: open the file and read all of it through the ring, 64 KiB at a time.
  constexpr std::size_t chunk = 64 * 1024;
  coring::result<coring::file> f = co_await coring::file::open(path);
  if (!f) {
    report.error = f.error();
    co_return report;
  }
  std::string text;
  for (;;) {
    const std::size_t offset = text.size();
    text.resize(offset + chunk);
    const coring::result<std::size_t> n = co_await f->read_at(std::span(text).subspan(offset), offset);
    if (!n) {
      report.error = n.error();
      co_return report;  // `f` closes the file as it goes out of scope
    }
    text.resize(offset + *n);
    if (*n == 0) break;  // end of file
  }
  report.read_on = where(rt);

  // 2. Counting is computation: do it on the CPU pool, leaving the io threads free for I/O.
  co_await coring::on(rt.cpu());
  report.found = count(text);
  report.counted_on = where(rt);

  // 3. Back to the io pool to close the file through the ring and report.
  co_await coring::on(rt.io());
  if (const coring::result<void> closed = co_await f->close(); !closed) report.error = closed.error();
  report.reported_on = where(rt);
  co_return report;
}

/// Waits for every task, in the order they were spawned.
coring::task<std::vector<file_report>> wait_all(std::vector<coring::join_handle<file_report>> jobs) {
  std::vector<file_report> reports;
  for (auto& job : jobs) reports.push_back(co_await job);
  co_return reports;
}

std::ostream& operator<<(std::ostream& out, const counts& c) {
  return out << c.lines << " lines " << c.words << " words " << c.bytes << " bytes";
}

}  // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string> paths(argv + 1, argv + argc);
  if (paths.empty()) {
    std::cerr << "usage: word_count FILE...\n";
    return 2;
  }

  coring::runtime rt{{.io_threads = 1, .cpu_threads = std::max(2u, std::thread::hardware_concurrency())}};

  // One task per file, all started at once: their reads are in flight together.
  std::vector<coring::join_handle<file_report>> jobs;
  for (const std::string& path : paths) jobs.push_back(coring::spawn(rt.io(), count_file(rt, path)));
  const std::vector<file_report> reports = rt.block_on(wait_all(std::move(jobs)));

  std::size_t width = 0;  // to line the counts up
  for (const std::string& path : paths) width = std::max(width, path.size() + 1);

  counts total;
  std::size_t failed = 0;
  for (const file_report& r : reports) {
    if (r.error) {
      std::cout.flush();  // keep the error in its place among the lines on stdout
      std::cerr << r.path << ": error: " << r.error.message() << '\n';
      ++failed;
      continue;
    }
    std::cout << std::left << std::setw(static_cast<int>(width)) << (r.path + ":") << std::right << ' '
              << r.found << " | read on " << r.read_on << ", counted on " << r.counted_on << ", reported on "
              << r.reported_on << '\n';
    total += r.found;
  }
  std::cout << "total: " << total << " in " << reports.size() - failed;
  if (failed > 0) std::cout << " of " << reports.size();
  std::cout << " files\n";

  // Shut down first, so that every task has finished and the counters are final.
  rt.shutdown();
  const coring::runtime_metrics m = rt.metrics();
  std::cout << "runtime: " << m.io_threads << " io + " << m.cpu_threads << " cpu threads; tasks "
            << m.tasks_spawned << " spawned, " << m.tasks_completed << " completed; ring "
            << m.ring_submissions << " submissions, " << m.ring_completions << " completions\n";
  return failed > 0 ? 1 : 0;
} catch (const std::exception& e) {  // e.g. io_uring not available on this system
  std::cerr << "word_count: " << e.what() << '\n';
  return 1;
}
